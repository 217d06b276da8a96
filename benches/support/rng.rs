//! The benches' random source: a deterministic xorshift, so every run
//! measures the same corpus. Included by each bench with
//! `#[path = "support/rng.rs"] mod rng;`.
#![allow(dead_code)] // each bench uses its own part of it

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}
