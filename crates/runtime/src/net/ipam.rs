//! Address management for Sandbar's range: slot `n` is address `range + n`. Slot 0 is the network
//! address, 1 the gateway and the last the broadcast address, so sandboxes get slots 2 up to the
//! one before broadcast. A freed slot goes to the back of the line (a round-robin cursor), so a
//! new sandbox rarely gets the address of one that just went away.

use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

/// Which slots of the range are in use.
#[derive(Debug)]
pub(crate) struct Ipam {
    range: Ipv4Net,
    used: Vec<bool>,
    cursor: u32,
}

impl Ipam {
    /// An empty allocator over `range` (at least a /30 has one sandbox slot).
    pub(crate) fn new(range: Ipv4Net) -> Ipam {
        let size = 1u64 << (32 - u32::from(range.prefix_len()));
        Ipam { range, used: vec![false; size as usize], cursor: FIRST_SLOT }
    }

    /// How many sandbox slots the range has.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.used.len().saturating_sub(3)
    }

    fn last_slot(&self) -> u32 {
        self.used.len() as u32 - 2
    }

    /// Takes a free slot, searching on from the last one handed out; `None` when all are used.
    pub(crate) fn reserve(&mut self) -> Option<u32> {
        let (first, last) = (FIRST_SLOT, self.last_slot());
        if last < first {
            return None;
        }
        let span = last - first + 1;
        for step in 0..span {
            let slot = first + (self.cursor - first + step) % span;
            if !self.used[slot as usize] {
                self.used[slot as usize] = true;
                self.cursor = if slot == last { first } else { slot + 1 };
                return Some(slot);
            }
        }
        None
    }

    /// Marks `slot` used (a sandbox an earlier process left running holds it). False when the
    /// slot is outside the sandbox slots of the range.
    pub(crate) fn claim(&mut self, slot: u32) -> bool {
        if slot < FIRST_SLOT || slot > self.last_slot() {
            return false;
        }
        self.used[slot as usize] = true;
        true
    }

    /// Frees `slot`.
    pub(crate) fn release(&mut self, slot: u32) {
        if let Some(used) = self.used.get_mut(slot as usize) {
            *used = false;
        }
    }

    /// Whether `slot` is taken.
    pub(crate) fn is_taken(&self, slot: u32) -> bool {
        self.used.get(slot as usize).copied().unwrap_or(false)
    }

    /// Every taken slot.
    pub(crate) fn in_use(&self) -> Vec<u32> {
        (0..self.used.len() as u32).filter(|slot| self.used[*slot as usize]).collect()
    }

    /// The address of `slot`.
    pub(crate) fn address(&self, slot: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.range.network()) + slot)
    }

    /// The slot of `address`, when it is a sandbox address of the range.
    pub(crate) fn slot_of(&self, address: Ipv4Addr) -> Option<u32> {
        let slot = u32::from(address).checked_sub(u32::from(self.range.network()))?;
        (self.range.contains(&address) && (FIRST_SLOT..=self.last_slot()).contains(&slot)).then_some(slot)
    }
}

/// The first sandbox slot (0 is the network address, 1 the gateway).
const FIRST_SLOT: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    fn ipam(range: &str) -> Ipam {
        Ipam::new(range.parse().unwrap())
    }

    #[test]
    fn slots_skip_network_gateway_and_broadcast_and_run_out() {
        let mut ipam = ipam("10.213.7.0/29");
        assert_eq!(ipam.capacity(), 5);
        let slots: Vec<u32> = std::iter::from_fn(|| ipam.reserve()).collect();
        assert_eq!(slots, vec![2, 3, 4, 5, 6]);
        assert_eq!(ipam.address(2), Ipv4Addr::new(10, 213, 7, 2));
        assert_eq!(ipam.address(6), Ipv4Addr::new(10, 213, 7, 6));
        assert_eq!(ipam.reserve(), None, "the broadcast address is never handed out");
    }

    #[test]
    fn a_freed_slot_is_reused_last() {
        let mut ipam = ipam("10.213.7.0/29");
        let first = ipam.reserve().unwrap();
        let second = ipam.reserve().unwrap();
        ipam.release(first);
        assert_eq!(ipam.reserve(), Some(second + 1), "the cursor moves on past a freed slot");
        while ipam.reserve().is_some() {}
        ipam.release(first);
        assert_eq!(ipam.reserve(), Some(first), "wraps around to what was freed");
    }

    #[test]
    fn claims_and_addresses_map_back_to_slots() {
        let mut ipam = ipam("10.213.0.0/16");
        assert!(ipam.claim(7));
        assert!(!ipam.claim(1) && !ipam.claim(65535) && !ipam.claim(70000));
        assert_eq!(ipam.in_use(), vec![7]);
        assert_eq!(ipam.slot_of(Ipv4Addr::new(10, 213, 0, 7)), Some(7));
        assert_eq!(ipam.slot_of(Ipv4Addr::new(10, 213, 1, 0)), Some(256));
        assert_eq!(ipam.slot_of(Ipv4Addr::new(10, 213, 0, 1)), None, "the gateway is no sandbox");
        assert_eq!(ipam.slot_of(Ipv4Addr::new(10, 214, 0, 7)), None);
        let first = ipam.reserve().unwrap();
        assert_eq!(first, 2);
        assert_ne!(ipam.reserve(), Some(7), "a claimed slot is not handed out");
    }
}
