//! Test-only invariant checker for [`Wheel`] (the invariants are listed in
//! the parent module's doc comment).

use super::*;
use std::fmt::Write as _;

/// `NIL` as a slab index, for walks that index with `usize`.
const NIL_IX: usize = NIL as usize;

impl<T> Wheel<T> {
    /// Human-readable dump of the whole structure for assertion messages.
    /// Every walk is bounded by the slab size so a corrupted (cyclic) list
    /// cannot hang the dump.
    pub(super) fn dump(&self) -> String {
        let mut out = format!(
            "elapsed={} len={} slab={} free_head={}\n",
            self.elapsed,
            self.len,
            self.entries.len(),
            if self.free_head == NIL {
                "NIL".to_owned()
            } else {
                self.free_head.to_string()
            }
        );
        let walk = |list: Links| {
            let mut items = Vec::new();
            let mut cursor = list.head as usize;
            while cursor != NIL_IX
                && cursor < self.entries.len()
                && items.len() <= self.entries.len()
            {
                items.push((cursor, self.entries[cursor].deadline));
                cursor = self.entries[cursor].next as usize;
            }
            items
        };
        let _ = writeln!(out, "overdue {:?}: {:?}", self.overdue, walk(self.overdue));
        for (level, bits) in self.occupied.iter().enumerate() {
            let _ = writeln!(out, "level {level:2} occupied={bits:064b}");
            for slot in 0..SLOTS {
                let cell = &self.slots[level * SLOTS + slot];
                if cell.list.head != NIL || bits & (1 << slot) != 0 {
                    let _ = writeln!(
                        out,
                        "  slot {slot:2} start={} min={} min_count={} {:?} (idx, deadline): {:?}",
                        slot_start(self.elapsed, level, slot),
                        cell.min,
                        cell.min_count,
                        cell.list,
                        walk(cell.list)
                    );
                }
            }
        }
        out
    }

    /// Walks one list checking links, liveness and `home`; returns members.
    fn check_list(&self, list: Links, home: Home, seen: &mut [bool]) -> Vec<usize> {
        let mut members = Vec::new();
        let (mut prev, mut cursor) = (NIL_IX, list.head as usize);
        while cursor != NIL_IX {
            assert!(
                cursor < self.entries.len() && members.len() < self.entries.len(),
                "{home:?}: link {cursor} out of range or cycle after {members:?}\n{}",
                self.dump()
            );
            let entry = &self.entries[cursor];
            assert!(
                entry.payload.is_some(),
                "{home:?}: vacant cell {cursor} is linked\n{}",
                self.dump()
            );
            assert_eq!(
                entry.home,
                home,
                "cell {cursor} linked into the wrong list\n{}",
                self.dump()
            );
            assert_eq!(
                entry.prev as usize,
                prev,
                "{home:?}: bad prev link of {cursor}\n{}",
                self.dump()
            );
            assert!(!seen[cursor], "cell {cursor} linked twice\n{}", self.dump());
            seen[cursor] = true;
            members.push(cursor);
            (prev, cursor) = (cursor, entry.next as usize);
        }
        assert_eq!(
            list.tail as usize,
            prev,
            "{home:?}: tail is not the last member\n{}",
            self.dump()
        );
        members
    }

    /// Asserts invariants 1-6 of the module doc, panicking with a full dump.
    pub(super) fn check_invariants(&self) {
        let mut seen = vec![false; self.entries.len()];
        // Invariant 2: overdue sorted and strictly behind `elapsed`.
        let overdue = self.check_list(self.overdue, Home::Overdue, &mut seen);
        let deadlines: Vec<u64> = overdue.iter().map(|&i| self.entries[i].deadline).collect();
        assert!(
            deadlines.windows(2).all(|w| w[0] <= w[1])
                && deadlines.iter().all(|&d| d < self.elapsed),
            "overdue must be sorted and < elapsed {}: {deadlines:?}\n{}",
            self.elapsed,
            self.dump()
        );
        let mut linked = overdue.len();
        for level in 0..NUM_LEVELS {
            for slot in 0..SLOTS {
                let cell = &self.slots[level * SLOTS + slot];
                let home = Home::slot(level, slot);
                let members = self.check_list(cell.list, home, &mut seen);
                linked += members.len();
                // Invariant 4.
                assert_eq!(
                    self.occupied[level] & (1 << slot) != 0,
                    !members.is_empty(),
                    "occupancy bit of {home:?} disagrees with its list\n{}",
                    self.dump()
                );
                // Invariant 3.
                for &i in &members {
                    let d = self.entries[i].deadline;
                    assert!(
                        d >= self.elapsed && level_for(self.elapsed, d) == level && slot_for(d, level) == slot,
                        "cell {i} deadline {d} misplaced in {home:?} (elapsed {}, wants level {} slot {})\n{}",
                        self.elapsed,
                        level_for(self.elapsed, d),
                        slot_for(d, level_for(self.elapsed, d)),
                        self.dump()
                    );
                }
                if !members.is_empty() {
                    let start = slot_start(self.elapsed, level, slot);
                    assert!(
                        start > self.elapsed || (level == 0 && start == self.elapsed),
                        "{home:?} starts at {start}, not ahead of elapsed {}\n{}",
                        self.elapsed,
                        self.dump()
                    );
                }
                // Invariant 5.
                let min = members
                    .iter()
                    .map(|&i| self.entries[i].deadline)
                    .min()
                    .unwrap_or(u64::MAX);
                let count = members
                    .iter()
                    .filter(|&&i| self.entries[i].deadline == min)
                    .count();
                assert!(
                    cell.min == min && cell.min_count == count,
                    "{home:?} caches min {} x{}, actual {min} x{count}\n{}",
                    cell.min,
                    cell.min_count,
                    self.dump()
                );
            }
        }
        // Invariant 1: every live cell linked exactly once, `len` counts them.
        let live = self.entries.iter().filter(|e| e.payload.is_some()).count();
        assert!(
            linked == self.len && live == self.len,
            "len {} but {linked} linked and {live} live\n{}",
            self.len,
            self.dump()
        );
        // Invariant 6: the free list holds exactly the vacant cells.
        let (mut cursor, mut free) = (self.free_head as usize, 0);
        while cursor != NIL_IX {
            assert!(
                cursor < self.entries.len() && free < self.entries.len(),
                "free list out of range or cyclic at {cursor}\n{}",
                self.dump()
            );
            assert!(
                self.entries[cursor].payload.is_none(),
                "live cell {cursor} on free list\n{}",
                self.dump()
            );
            free += 1;
            cursor = self.entries[cursor].next as usize;
        }
        assert_eq!(
            free + self.len,
            self.entries.len(),
            "free list misses vacant cells\n{}",
            self.dump()
        );
    }
}
