//! The admin server.
