//! Hierarchical hashed timing wheel (Varghese & Lauck) with millisecond
//! resolution.
//!
//! This module owns the set of pending timers of the daemon: every scheduled
//! job run is one entry `(deadline, payload)`. The engine asks two questions
//! every loop turn, "when is the next deadline?" ([`Wheel::next_deadline`]) so
//! it can sleep exactly that long (tickless), and "what is due now?"
//! ([`Wheel::poll`]). Insert and cancel are O(1) so that hot reloads of large
//! job tables stay cheap, and nothing allocates in steady state (entries live
//! in a slab whose vacant cells are recycled).
//!
//! The wheel is a pure data structure: it never reads a clock. Time is a `u64`
//! count of milliseconds on an abstract timeline supplied by the caller; the
//! wheel only remembers how far it has been advanced (`elapsed`).
//!
//! # Theory of operation
//!
//! A deadline `d` is stored relative to `elapsed` (`e`) at the level given by
//! the highest bit in which `d` and `e` differ: level `k` covers bits
//! `6k..6k+6`, and the slot is those six bits of `d`. Eleven levels of 64
//! slots cover all 64 bits, so every `u64` deadline has a home and no
//! overflow list is needed (level 10 only uses slots 0..16).
//!
//! | level | slot span            | level span              |
//! |-------|----------------------|-------------------------|
//! | 0     | 1 ms                 | 64 ms                   |
//! | 1     | 64 ms                | 4.1 s                   |
//! | 2     | 4.1 s                | 4.37 min                |
//! | 3     | 4.37 min             | 4.66 h                  |
//! | 4     | 4.66 h               | 12.4 days               |
//! | 5     | 12.4 days            | 2.18 years              |
//! | 6     | 2.18 years           | 139 years               |
//! | 7     | 139 years            | 8.9 thousand years      |
//! | 8     | 8.9 thousand years   | 571 thousand years      |
//! | 9     | 571 thousand years   | 36.6 million years      |
//! | 10    | 36.6 million years   | 585 million years (2^64)|
//!
//! Because `d` agrees with `e` on every bit above its level and its slot is
//! ahead of `e`'s slot on that level, any entry on a lower level is strictly
//! earlier than any entry on a higher level, and inside one level slots are
//! ordered by index (no wrap-around, see invariant 3). So the earliest entry
//! lies in the first occupied slot of the lowest occupied level, found by a
//! bit scan over that level's occupancy bitmap.
//!
//! [`Wheel::poll`] advances `elapsed` slot by slot: it jumps to the start of
//! the earliest occupied slot (nothing can be skipped, it is the earliest);
//! a level-0 slot holds entries whose deadline is exactly that start and they
//! are returned one by one, while a higher slot is *cascaded*: its entries are
//! re-placed relative to the new `elapsed`, which puts each on a strictly
//! lower level. When the earliest slot starts after `now`, `elapsed` jumps
//! to `now`, which changes no entry's level (no slot boundary was crossed).
//!
//! Deadlines already behind `elapsed` at insert time cannot be expressed on
//! the wheel; they go to a separate `overdue` list kept sorted by deadline
//! and drained first. Keeping it sorted costs a walk from its tail on such an
//! insert (O(1) when late inserts arrive in deadline order, O(overdue) worst
//! case); every other insert is O(1).
//!
//! [`Wheel::next_deadline`] must be exact, not a slot boundary, so every slot
//! caches the minimum deadline of its entries and how many entries hold it.
//! Insert updates the cache in O(1); cancel is O(1) unless it removes the
//! last entry holding the minimum of a slot that still has entries, in which
//! case that one slot is rescanned. (Level-0 slots never rescan: all their
//! entries share one deadline.)
//!
//! # Invariants
//!
//! 1. Every live entry is linked into exactly one list: `overdue` or one
//!    wheel slot, and its `home` field names that list. `len` counts them.
//! 2. `overdue` holds exactly the live entries with `deadline < elapsed`,
//!    sorted by non-decreasing deadline. (`elapsed` only moves in `poll`
//!    while `overdue` is empty, so this cannot be broken by time passing.)
//! 3. An entry in slot `s` of level `k` has `deadline >= elapsed`,
//!    `k == level_for(elapsed, deadline)` and `s == slot_for(deadline, k)`.
//!    Hence its slot index is `>=` (`>` for `k > 0`) the index `elapsed` has
//!    on level `k`, and the slot start is `>= elapsed`.
//! 4. Bit `s` of `occupied[k]` is set iff slot `(k, s)` is non-empty.
//! 5. Every slot's `min`/`min_count` are the exact minimum deadline of its
//!    entries and the number of entries having it (`u64::MAX`/0 when empty).
//! 6. Vacant slab cells (payload `None`) form the free list; every key handed
//!    out carries the generation its cell had while live, and a cell's
//!    generation is bumped whenever it is vacated, so a stale key never
//!    matches.

use std::fmt;
use std::num::NonZeroU64;

/// Bits of the deadline consumed by one level.
const SLOT_BITS: usize = 6;
/// Slots per level (one `u64` occupancy bitmap each).
const SLOTS: usize = 1 << SLOT_BITS;
/// `ceil(64 / 6)`: enough levels to cover every `u64` deadline.
const NUM_LEVELS: usize = 64_usize.div_ceil(SLOT_BITS);
/// A slab index in the intrusive lists and keys: four bytes, not eight, as there is
/// one pair per entry. The wheel holds a daemon's timers, one or two per task, far
/// fewer than `NIL` (a task file is at most 16 MiB).
type Link = u32;
/// Null link in the intrusive lists and the free list.
const NIL: Link = Link::MAX;

/// Handle to one inserted entry. Only meaningful for the wheel that issued
/// it; once the entry fired or was cancelled the key is stale forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    generation: NonZeroU64,
    index: Link,
}

/// Which intrusive list a live entry is linked into. Bytes, not words: there is one
/// per entry, and levels and slots are few.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Overdue,
    Slot { level: u8, slot: u8 },
}

impl Home {
    /// Slot `slot` of level `level`; both are below `NUM_LEVELS` and `SLOTS` (at most
    /// 64), so they fit a byte.
    fn slot(level: usize, slot: usize) -> Home {
        debug_assert!(level < NUM_LEVELS && slot < SLOTS);
        Home::Slot {
            level: level as u8,
            slot: slot as u8,
        }
    }
}

/// Head and tail of an intrusive doubly-linked list (`NIL` when empty; both
/// are `NIL` or neither is).
#[derive(Clone, Copy, Debug)]
struct Links {
    head: Link,
    tail: Link,
}

impl Links {
    const EMPTY: Links = Links {
        head: NIL,
        tail: NIL,
    };
}

/// One wheel slot: its entry list and the cached exact minimum (invariant 5).
#[derive(Clone, Copy, Debug)]
struct Slot {
    list: Links,
    /// Minimum deadline of the entries in `list`; `u64::MAX` when empty.
    min: u64,
    /// Number of entries whose deadline equals `min`; 0 when empty.
    min_count: usize,
}

impl Slot {
    const EMPTY: Slot = Slot {
        list: Links::EMPTY,
        min: u64::MAX,
        min_count: 0,
    };
}

/// One slab cell.
struct Entry<T> {
    /// Bumped each time the cell is vacated, so keys of earlier occupants go
    /// stale (u64: cannot wrap in the lifetime of a process). Never zero, so that
    /// an `Option<Key>` is as small as a key.
    generation: NonZeroU64,
    /// `Some` iff the cell is live; vacant cells are on the free list.
    payload: Option<T>,
    /// Deadline in ms (meaningless while vacant).
    deadline: u64,
    /// The list the entry is linked into (meaningless while vacant).
    home: Home,
    /// Previous entry in `home`'s list, `NIL` at the head.
    prev: Link,
    /// Next entry in `home`'s list, `NIL` at the tail; while vacant, the
    /// next vacant cell of the free list.
    next: Link,
}

/// A hierarchical timing wheel of entries carrying a payload `T`.
pub struct Wheel<T> {
    /// How far the wheel has been advanced. Never decreases; moves only in
    /// `poll` (invariants 2 and 3 are relative to it).
    elapsed: u64,
    /// The slab. Its length only grows, to the peak number of live entries.
    entries: Vec<Entry<T>>,
    /// Head of the free list of vacant cells in `entries` (`NIL` if none).
    free_head: Link,
    /// Number of live entries (invariant 1).
    len: usize,
    /// Per level, bit `s` set iff slot `s` is non-empty (invariant 4).
    occupied: [u64; NUM_LEVELS],
    /// `NUM_LEVELS * SLOTS` slots, index `level * SLOTS + slot`. Boxed so a
    /// `Wheel` stays small to move around.
    slots: Box<[Slot]>,
    /// Entries whose deadline was already behind `elapsed` when inserted,
    /// sorted by deadline (invariant 2).
    overdue: Links,
}

/// Level at which `deadline` lives relative to `elapsed`: the 6-bit group of
/// the highest differing bit. OR-ing 63 maps "no difference" to level 0
/// instead of needing a special case for `leading_zeros(0) == 64`.
fn level_for(elapsed: u64, deadline: u64) -> usize {
    let significant = 63 - ((elapsed ^ deadline) | (SLOTS as u64 - 1)).leading_zeros() as usize;
    significant / SLOT_BITS
}

/// Slot index of `time` on `level`: its six bits for that level.
fn slot_for(time: u64, level: usize) -> usize {
    ((time >> (SLOT_BITS * level)) & (SLOTS as u64 - 1)) as usize
}

/// First millisecond covered by `slot` of `level`, given `elapsed`: the bits
/// above the level are `elapsed`'s (invariant 3), the level's six bits are
/// `slot`, the bits below are zero.
fn slot_start(elapsed: u64, level: usize, slot: usize) -> u64 {
    let shift = SLOT_BITS * level;
    let above = shift + SLOT_BITS;
    // The top level (above == 66) has no bits above it.
    let high = if above >= 64 {
        0
    } else {
        elapsed >> above << above
    };
    high | ((slot as u64) << shift)
}

/// Links `idx` into `list` right after `after` (`NIL`: at the front).
fn link_after<T>(entries: &mut [Entry<T>], list: &mut Links, after: Link, idx: Link) {
    let next = if after == NIL {
        list.head
    } else {
        entries[after as usize].next
    };
    entries[idx as usize].prev = after;
    entries[idx as usize].next = next;
    if after == NIL {
        list.head = idx;
    } else {
        entries[after as usize].next = idx;
    }
    if next == NIL {
        list.tail = idx;
    } else {
        entries[next as usize].prev = idx;
    }
}

/// Unlinks `idx` from `list` (which must be the list it is in).
fn unlink<T>(entries: &mut [Entry<T>], list: &mut Links, idx: Link) {
    let (prev, next) = (entries[idx as usize].prev, entries[idx as usize].next);
    if prev == NIL {
        list.head = next;
    } else {
        entries[prev as usize].next = next;
    }
    if next == NIL {
        list.tail = prev;
    } else {
        entries[next as usize].prev = prev;
    }
}

impl<T> Wheel<T> {
    /// An empty wheel whose elapsed time starts at `now`.
    pub fn new(now: u64) -> Self {
        Wheel {
            elapsed: now,
            entries: Vec::new(),
            free_head: NIL,
            len: 0,
            occupied: [0; NUM_LEVELS],
            slots: vec![Slot::EMPTY; NUM_LEVELS * SLOTS].into_boxed_slice(),
            overdue: Links::EMPTY,
        }
    }

    /// An empty wheel with room for `capacity` entries before its slab grows.
    pub fn with_capacity(now: u64, capacity: usize) -> Self {
        let mut wheel = Wheel::new(now);
        wheel.entries.reserve_exact(capacity);
        wheel
    }

    /// Number of live entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no live entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How far the wheel has been advanced. After `poll(now)` returned
    /// `None` this is `max(previous elapsed, now)`; while `poll` is returning
    /// entries it is the deadline reached so far.
    pub fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Schedules `payload` at `deadline`. O(1) (see the module doc for
    /// deadlines already behind `elapsed`, which are due at the next poll).
    pub fn insert(&mut self, deadline: u64, payload: T) -> Key {
        let index = if self.free_head == NIL {
            // A task file is at most 16 MiB, so the timers of its tasks are far fewer
            // than NIL; the slab never reaches it.
            let index = Link::try_from(self.entries.len())
                .ok()
                .filter(|&i| i != NIL)
                .expect("fewer timers than 2^32 - 1");
            self.entries.push(Entry {
                generation: NonZeroU64::MIN,
                payload: None,
                deadline,
                home: Home::Overdue,
                prev: NIL,
                next: NIL,
            });
            index
        } else {
            let index = self.free_head;
            self.free_head = self.entries[index as usize].next;
            index
        };
        let entry = &mut self.entries[index as usize];
        entry.payload = Some(payload);
        entry.deadline = deadline;
        self.len += 1;
        self.place(index);
        Key {
            index,
            generation: self.entries[index as usize].generation,
        }
    }

    /// Removes a live entry and returns its payload; `None` for a stale key.
    pub fn cancel(&mut self, key: Key) -> Option<T> {
        if !self.is_live(key) {
            return None;
        }
        Some(self.remove(key.index).2)
    }

    /// Payload of a live entry; `None` for a stale key.
    pub fn get(&self, key: Key) -> Option<&T> {
        self.is_live(key)
            .then(|| self.entries[key.index as usize].payload.as_ref())
            .flatten()
    }

    /// Deadline of a live entry; `None` for a stale key.
    pub fn deadline(&self, key: Key) -> Option<u64> {
        self.is_live(key)
            .then(|| self.entries[key.index as usize].deadline)
    }

    /// The exact earliest deadline among live entries, `None` when empty.
    /// O(levels): overdue entries precede everything on the wheel, and on
    /// the wheel the minimum is the cached `min` of the first occupied slot
    /// of the lowest occupied level (module doc, invariants 3 and 5).
    pub fn next_deadline(&self) -> Option<u64> {
        if self.overdue.head != NIL {
            return Some(self.entries[self.overdue.head as usize].deadline);
        }
        self.first_occupied()
            .map(|(level, slot)| self.slots[level * SLOTS + slot].min)
    }

    /// Removes and returns one entry with `deadline <= now`, earliest first;
    /// `None` when nothing is due, in which case `elapsed` has advanced to
    /// `now` (a `now` behind `elapsed` counts as `elapsed`).
    pub fn poll(&mut self, now: u64) -> Option<(Key, u64, T)> {
        let now = now.max(self.elapsed);
        if self.overdue.head != NIL {
            return Some(self.remove(self.overdue.head));
        }
        while let Some((level, slot)) = self.first_occupied() {
            let start = slot_start(self.elapsed, level, slot);
            if start > now {
                break;
            }
            // `start` is the earliest slot start (lower levels are empty, and
            // this is the level's first occupied slot), so moving `elapsed`
            // there skips no entry and keeps every other entry's level valid.
            self.elapsed = start;
            let head = self.slots[level * SLOTS + slot].list.head;
            if level == 0 {
                // Occupied bit set, so `head` is an entry; every entry of a
                // level-0 slot has deadline exactly `start` (<= now).
                return Some(self.remove(head));
            }
            // Cascade: detach the whole list, then re-place each entry
            // relative to the new `elapsed`. Every deadline now agrees with
            // `elapsed` on level `level`'s bits, so each lands lower.
            self.slots[level * SLOTS + slot] = Slot::EMPTY;
            self.occupied[level] &= !(1 << slot);
            let mut cursor = head;
            while cursor != NIL {
                let next = self.entries[cursor as usize].next;
                self.place(cursor);
                cursor = next;
            }
        }
        // Nothing starts at or before `now`: no occupied slot boundary lies
        // in `(elapsed, now]`, so every entry keeps its level and slot.
        self.elapsed = now;
        None
    }

    fn is_live(&self, key: Key) -> bool {
        self.entries
            .get(key.index as usize)
            .is_some_and(|e| e.generation == key.generation && e.payload.is_some())
    }

    /// Lowest occupied level and its first occupied slot at or after the
    /// slot `elapsed` is in. The bitmap is rotated so that `elapsed`'s slot
    /// becomes bit 0; by invariant 3 no occupied slot lies behind it, so the
    /// rotation never actually wraps, but it keeps the scan obviously right.
    fn first_occupied(&self) -> Option<(usize, usize)> {
        let level = self.occupied.iter().position(|&bits| bits != 0)?;
        let current = slot_for(self.elapsed, level);
        let distance = self.occupied[level]
            .rotate_right(current as u32)
            .trailing_zeros() as usize;
        Some((level, (current + distance) % SLOTS))
    }

    /// Links the (already unlinked) live entry `idx` into the list its
    /// deadline calls for, maintaining invariants 2–5.
    fn place(&mut self, idx: Link) {
        let deadline = self.entries[idx as usize].deadline;
        if deadline < self.elapsed {
            // Walk back from the tail past later deadlines: keeps the list
            // sorted, and ties stay in insertion order.
            let mut after = self.overdue.tail;
            while after != NIL && self.entries[after as usize].deadline > deadline {
                after = self.entries[after as usize].prev;
            }
            self.entries[idx as usize].home = Home::Overdue;
            link_after(&mut self.entries, &mut self.overdue, after, idx);
            return;
        }
        let level = level_for(self.elapsed, deadline);
        let slot = slot_for(deadline, level);
        let cell = &mut self.slots[level * SLOTS + slot];
        self.entries[idx as usize].home = Home::slot(level, slot);
        link_after(&mut self.entries, &mut cell.list, NIL, idx);
        if deadline < cell.min {
            (cell.min, cell.min_count) = (deadline, 1);
        } else if deadline == cell.min {
            cell.min_count += 1;
        }
        self.occupied[level] |= 1 << slot;
    }

    /// Unlinks live entry `idx`, vacates its cell and returns its contents.
    fn remove(&mut self, idx: Link) -> (Key, u64, T) {
        let deadline = self.entries[idx as usize].deadline;
        match self.entries[idx as usize].home {
            Home::Overdue => unlink(&mut self.entries, &mut self.overdue, idx),
            Home::Slot { level, slot } => {
                let (level, slot) = (usize::from(level), usize::from(slot));
                let cell = &mut self.slots[level * SLOTS + slot];
                unlink(&mut self.entries, &mut cell.list, idx);
                if cell.list.head == NIL {
                    *cell = Slot::EMPTY;
                    self.occupied[level] &= !(1 << slot);
                } else if deadline == cell.min {
                    cell.min_count -= 1;
                    if cell.min_count == 0 {
                        // The last holder of the minimum left a non-empty
                        // slot: the only case that needs a rescan.
                        (cell.min, cell.min_count) = (u64::MAX, 0);
                        let mut cursor = cell.list.head;
                        while cursor != NIL {
                            let d = self.entries[cursor as usize].deadline;
                            if d < cell.min {
                                (cell.min, cell.min_count) = (d, 1);
                            } else if d == cell.min {
                                cell.min_count += 1;
                            }
                            cursor = self.entries[cursor as usize].next;
                        }
                    }
                }
            }
        }
        let entry = &mut self.entries[idx as usize];
        let key = Key {
            index: idx,
            generation: entry.generation,
        };
        // Callers pass only live entries (checked key or a list member).
        let payload = entry.payload.take().expect("remove() of a vacant cell");
        entry.generation = entry.generation.saturating_add(1);
        entry.next = self.free_head;
        self.free_head = idx;
        self.len -= 1;
        (key, deadline, payload)
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len)
            .field("next_deadline", &self.next_deadline())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod check;
#[cfg(test)]
mod tests;
