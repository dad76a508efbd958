use super::*;
use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};

const YEAR: u64 = 365 * 24 * 3600 * 1000;
/// Non-zero, deliberately unaligned starting points.
const STARTS: [u64; 5] = [1, 63, 4_097, 1_234_567_891, 0x0123_4567_89ab_cdef];

/// Polls at `now` until `None`, checking invariants after every call.
fn drain<T>(wheel: &mut Wheel<T>, now: u64) -> Vec<(Key, u64, T)> {
    let mut fired = Vec::new();
    while let Some(item) = wheel.poll(now) {
        wheel.check_invariants();
        assert!(
            item.1 <= now.max(wheel.elapsed()),
            "fired early: {} > {now}",
            item.1
        );
        fired.push(item);
    }
    wheel.check_invariants();
    assert!(
        wheel.elapsed() >= now,
        "poll returned None before reaching {now}"
    );
    fired
}

fn deadlines<T>(fired: &[(Key, u64, T)]) -> Vec<u64> {
    fired.iter().map(|f| f.1).collect()
}

/// Deltas around every level boundary `64^k` (plus the top of the range).
fn boundary_deltas() -> Vec<u64> {
    let mut deltas = Vec::new();
    for k in 0..NUM_LEVELS as u32 {
        let span = 64u64.pow(k);
        deltas.extend([span - 1, span, span + 1]);
    }
    deltas.extend([u64::MAX / 2, u64::MAX / 2 + 1]);
    deltas
}

#[test]
fn empty_wheel() {
    let mut w: Wheel<()> = Wheel::new(1_000);
    w.check_invariants();
    assert_eq!(
        (w.len(), w.is_empty(), w.elapsed(), w.next_deadline()),
        (0, true, 1_000, None)
    );
    assert!(w.poll(5_000).is_none());
    assert_eq!(w.elapsed(), 5_000);
    assert!(w.poll(10).is_none(), "now behind elapsed must not rewind");
    assert_eq!(w.elapsed(), 5_000);
    w.check_invariants();
}

#[test]
fn every_level_boundary_alone() {
    for &start in &STARTS {
        for &delta in &boundary_deltas() {
            let Some(d) = start.checked_add(delta) else {
                continue;
            };
            let mut w = Wheel::new(start);
            let key = w.insert(d, delta);
            w.check_invariants();
            assert_eq!(
                (w.next_deadline(), w.deadline(key), w.len()),
                (Some(d), Some(d), 1)
            );
            if delta > 0 {
                // Poll just before: cascades happen, nothing fires, still exact.
                assert!(
                    w.poll(d - 1).is_none(),
                    "start {start} delta {delta} fired early"
                );
                w.check_invariants();
                assert_eq!(w.next_deadline(), Some(d), "start {start} delta {delta}");
            }
            assert_eq!(w.poll(d), Some((key, d, delta)));
            w.check_invariants();
            assert!(w.is_empty() && w.next_deadline().is_none() && w.poll(d).is_none());
        }
    }
}

#[test]
fn every_level_boundary_together() {
    for &start in &STARTS {
        let mut w = Wheel::new(start);
        let mut want: Vec<u64> = boundary_deltas()
            .iter()
            .filter_map(|&x| start.checked_add(x))
            .collect();
        for &d in &want {
            w.insert(d, d);
            w.check_invariants();
        }
        want.sort_unstable();
        // Step to each deadline in turn; next_deadline must track exactly.
        for (i, &d) in want.iter().enumerate() {
            assert_eq!(w.next_deadline(), Some(d), "start {start}");
            if d > start {
                assert!(w.poll(d - 1).is_none());
                w.check_invariants();
                assert_eq!(w.next_deadline(), Some(d), "start {start} after cascade");
            }
            let fired = drain(&mut w, d);
            assert_eq!(deadlines(&fired), vec![d], "start {start}");
            assert_eq!(w.len(), want.len() - i - 1);
        }
        assert!(w.is_empty());
    }
}

/// Three entries in one slot, in list order head..tail (the slot list is
/// pushed at the front, so the last inserted is the head).
fn three_in_one_slot(same_deadline: bool) -> (Wheel<u64>, [Key; 3], [u64; 3]) {
    let mut w = Wheel::new(10_000);
    // 10_201..=10_203 differ from 10_000 first in bits 6..12 (level 1) and
    // share the 64 ms slot 10_176..10_240, i.e. level-1 slot 31.
    let ds = if same_deadline {
        [10_201; 3]
    } else {
        [10_201, 10_203, 10_202]
    };
    let tail = w.insert(ds[0], ds[0]);
    let middle = w.insert(ds[1], ds[1]);
    let head = w.insert(ds[2], ds[2]);
    w.check_invariants();
    let home = |k: Key| w.entries[k.index as usize].home;
    assert_eq!(home(head), home(tail));
    assert_eq!(home(middle), home(tail));
    assert_eq!(w.slots[SLOTS + 31].list.head, head.index);
    (w, [head, middle, tail], [ds[2], ds[1], ds[0]])
}

#[test]
fn cancel_head_middle_tail_of_a_slot() {
    for same in [false, true] {
        for victim in 0..3 {
            let (mut w, keys, ds) = three_in_one_slot(same);
            assert_eq!(w.cancel(keys[victim]), Some(ds[victim]));
            w.check_invariants();
            let mut rest: Vec<u64> = (0..3).filter(|&i| i != victim).map(|i| ds[i]).collect();
            rest.sort_unstable();
            assert_eq!(
                w.next_deadline(),
                Some(rest[0]),
                "same {same} victim {victim}"
            );
            assert_eq!(w.cancel(keys[victim]), None);
            assert_eq!(deadlines(&drain(&mut w, 20_000)), rest);
        }
        // Cancel all three, in every position order, down to an empty slot.
        let (mut w, keys, _) = three_in_one_slot(same);
        for key in [keys[1], keys[0], keys[2]] {
            assert!(w.cancel(key).is_some());
            w.check_invariants();
        }
        assert_eq!(
            (w.len(), w.next_deadline(), w.occupied),
            (0, None, [0; NUM_LEVELS])
        );
    }
}

#[test]
fn cancelling_the_minimum_rescans_the_slot() {
    let mut w = Wheel::new(0);
    // All in level-3 slot 1 (262_144 .. 524_288 ms).
    let a = w.insert(300_000, 'a');
    let b = w.insert(300_000, 'b');
    let c = w.insert(400_000, 'c');
    let _d = w.insert(500_000, 'd');
    assert_eq!(w.next_deadline(), Some(300_000));
    w.cancel(a);
    w.check_invariants();
    assert_eq!(
        w.next_deadline(),
        Some(300_000),
        "b still holds the minimum"
    );
    w.cancel(b);
    w.check_invariants();
    assert_eq!(w.next_deadline(), Some(400_000));
    w.cancel(c);
    w.check_invariants();
    assert_eq!(w.next_deadline(), Some(500_000));
}

#[test]
fn stale_keys_are_rejected() {
    let mut w = Wheel::new(0);
    let k1 = w.insert(10, "one");
    assert_eq!(w.get(k1), Some(&"one"));
    assert_eq!(w.cancel(k1), Some("one"));
    assert_eq!(
        (w.cancel(k1), w.deadline(k1), w.get(k1)),
        (None, None, None)
    );
    // The slab cell is reused with a new generation: the old key must not
    // touch the new entry.
    let k2 = w.insert(20, "two");
    assert_eq!(k2.index, k1.index);
    assert_ne!(k2, k1);
    assert_eq!((w.cancel(k1), w.deadline(k1), w.len()), (None, None, 1));
    assert_eq!((w.get(k1), w.get(k2)), (None, Some(&"two")));
    w.check_invariants();
    assert_eq!(w.poll(20), Some((k2, 20, "two")));
    assert_eq!(w.get(k2), None, "fired key is stale");
    assert_eq!(
        (w.cancel(k2), w.deadline(k2)),
        (None, None),
        "fired key is stale"
    );
    let foreign = Key {
        index: 99,
        generation: NonZeroU64::MIN,
    };
    assert_eq!(w.cancel(foreign), None);
    w.check_invariants();
}

#[test]
fn reinsert_after_poll() {
    let mut w = Wheel::new(500);
    let mut key = w.insert(1_000, 0u32);
    let mut at = 1_000;
    for round in 1..=5u32 {
        let (k, d, n) = w.poll(at).expect("due");
        assert_eq!((k, d, n), (key, at, round - 1));
        w.check_invariants();
        at += 60_000;
        key = w.insert(at, round);
        w.check_invariants();
        assert_eq!(w.next_deadline(), Some(at));
        assert_eq!(w.entries.len(), 1, "the freed cell is reused");
    }
}

#[test]
fn past_deadlines_fire_first_in_order() {
    let mut w = Wheel::new(1_000);
    w.insert(1_000, "now");
    w.insert(1_003, "later");
    for (d, p) in [(500, "b"), (10, "a"), (999, "d"), (500, "c"), (0, "z")] {
        w.insert(d, p);
        w.check_invariants();
    }
    assert_eq!(w.next_deadline(), Some(0));
    // `now` behind elapsed counts as elapsed: all overdue plus 1_000 are due.
    let fired = drain(&mut w, 0);
    assert_eq!(
        fired.iter().map(|f| f.2).collect::<Vec<_>>(),
        ["z", "a", "b", "c", "d", "now"]
    );
    assert_eq!((w.elapsed(), w.next_deadline()), (1_000, Some(1_003)));
    // A late insert while a partial poll left elapsed behind `now`.
    w.insert(1_100, "x");
    assert_eq!(w.poll(1_200).map(|f| f.1), Some(1_003));
    w.insert(1_050, "ahead");
    w.insert(1_002, "late");
    w.check_invariants();
    assert_eq!(w.next_deadline(), Some(1_002));
    assert_eq!(deadlines(&drain(&mut w, 1_200)), [1_002, 1_050, 1_100]);
}

#[test]
fn years_ahead_and_the_end_of_time() {
    let far = [
        10 * YEAR,
        10 * YEAR + 1,
        100 * YEAR,
        1_000_000 * YEAR,
        u64::MAX / 3,
    ];
    for &start in &[0, 1_700_000_000_000] {
        let mut w = Wheel::new(start);
        let mut want: Vec<u64> = far.iter().map(|&x| start + x).collect();
        want.extend([u64::MAX - 1, u64::MAX, u64::MAX]);
        for &d in &want {
            w.insert(d, ());
        }
        want.sort_unstable();
        w.check_invariants();
        for &d in &want[..want.len() - 1] {
            assert!(w.poll(d - 1).is_none());
            w.check_invariants();
            assert_eq!(w.next_deadline(), Some(d));
            let got = w.poll(d).map(|f| f.1);
            w.check_invariants();
            assert_eq!(got, Some(d));
        }
        assert_eq!(deadlines(&drain(&mut w, u64::MAX)), [u64::MAX]);
        assert_eq!(w.elapsed(), u64::MAX);
        // At the end of time everything is due immediately.
        w.insert(u64::MAX, ());
        w.insert(7, ());
        assert_eq!(deadlines(&drain(&mut w, 0)), [7, u64::MAX]);
    }
}

#[test]
fn next_deadline_is_exact_across_cascades() {
    let mut w = Wheel::new(123);
    let mut want = vec![];
    // Spread over one high slot and its neighbours so cascades split them.
    for i in 0..200u64 {
        let d = 123 + 5_000_000 + (i * 7_919) % 300_000;
        w.insert(d, i);
        want.push(d);
    }
    want.sort_unstable();
    let mut now = 123;
    let mut i = 0;
    while i < want.len() {
        // Advance by a stride that does not line up with slot boundaries.
        now += 37_777;
        let fired = drain(&mut w, now);
        let expect: Vec<u64> = want[i..]
            .iter()
            .copied()
            .take_while(|&d| d <= now)
            .collect();
        assert_eq!(deadlines(&fired), expect);
        i += expect.len();
        assert_eq!(
            w.next_deadline(),
            want.get(i).copied(),
            "after advancing to {now}"
        );
    }
}

#[test]
fn slab_does_not_grow_in_steady_state() {
    let mut w = Wheel::new(0);
    for i in 0..100 {
        w.insert(i * 1_000, i);
    }
    for t in 0..10_000u64 {
        let (_, d, p) = w.poll(t * 1_000).expect("one due per step");
        assert_eq!(d, t * 1_000);
        w.insert(d + 100_000, p);
    }
    w.check_invariants();
    assert_eq!(w.entries.len(), 100);
}

// ---------------------------------------------------------------------------
// Model test against a BTreeSet oracle.

#[derive(Clone, Debug)]
enum Op {
    /// Insert at `elapsed + span`.
    Insert(u64),
    /// Insert at `elapsed - span` (already overdue).
    InsertPast(u64),
    /// Cancel the key with this index (mod count) among all keys ever issued.
    Cancel(usize),
    /// Advance the clock by `span` and poll until `None`.
    Advance(u64),
    /// Advance the clock by `span` and poll once.
    PollOnce(u64),
}

/// Spans up to ~12 years, skewed so that most are small.
fn span() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..64u64,
        3 => 0..5_000u64,
        2 => 0..50_000_000u64,
        1 => 0..12 * YEAR,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => span().prop_map(Op::Insert),
        1 => span().prop_map(Op::InsertPast),
        3 => any::<usize>().prop_map(Op::Cancel),
        3 => span().prop_map(Op::Advance),
        1 => span().prop_map(Op::PollOnce),
    ]
}

struct Model {
    wheel: Wheel<u64>,
    /// Live entries by (deadline, payload); payloads are unique.
    live: BTreeSet<(u64, u64)>,
    by_key: HashMap<Key, (u64, u64)>,
    keys: Vec<Key>,
    clock: u64,
}

impl Model {
    /// Polls once at `now`, checking the result against the oracle; returns
    /// the fired deadline.
    fn poll_once(&mut self, now: u64) -> Option<u64> {
        let effective = now.max(self.wheel.elapsed());
        let before = self.wheel.elapsed();
        let got = self.wheel.poll(now);
        let min = self.live.first().copied();
        match got {
            Some((key, d, p)) => {
                assert!(d <= effective, "fired early: {d} > {effective}");
                assert_eq!(min.map(|m| m.0), Some(d), "not the earliest");
                assert_eq!(
                    self.by_key.remove(&key),
                    Some((d, p)),
                    "unknown or stale key fired"
                );
                assert!(self.live.remove(&(d, p)));
                assert!(self.wheel.elapsed() >= before);
                Some(d)
            }
            None => {
                assert!(
                    min.is_none_or(|m| m.0 > effective),
                    "{min:?} due at {effective} not fired"
                );
                assert_eq!(self.wheel.elapsed(), effective);
                None
            }
        }
    }

    fn check(&self) {
        self.wheel.check_invariants();
        assert_eq!(self.wheel.len(), self.live.len());
        assert_eq!(self.wheel.is_empty(), self.live.is_empty());
        assert_eq!(self.wheel.next_deadline(), self.live.first().map(|m| m.0));
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Insert(span) | Op::InsertPast(span) => {
                let elapsed = self.wheel.elapsed();
                let d = match op {
                    Op::Insert(_) => elapsed.saturating_add(span),
                    _ => elapsed.saturating_sub(span),
                };
                let payload = self.keys.len() as u64;
                let key = self.wheel.insert(d, payload);
                assert!(
                    self.by_key.insert(key, (d, payload)).is_none(),
                    "key reused"
                );
                self.live.insert((d, payload));
                self.keys.push(key);
            }
            Op::Cancel(pick) => {
                if self.keys.is_empty() {
                    return;
                }
                let key = self.keys[pick % self.keys.len()];
                let want = self.by_key.remove(&key);
                if let Some(entry) = want {
                    self.live.remove(&entry);
                }
                assert_eq!(self.wheel.deadline(key), want.map(|w| w.0));
                assert_eq!(self.wheel.cancel(key), want.map(|w| w.1));
                assert_eq!(self.wheel.deadline(key), None);
            }
            Op::Advance(span) => {
                self.clock = self.clock.saturating_add(span);
                let mut last = 0;
                while let Some(d) = self.poll_once(self.clock) {
                    self.wheel.check_invariants();
                    assert!(d >= last, "out of order: {d} after {last}");
                    last = d;
                }
            }
            Op::PollOnce(span) => {
                self.clock = self.clock.saturating_add(span);
                self.poll_once(self.clock);
            }
        }
        self.check();
    }
}

fn start() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        0..1u64 << 44,
        (0..20 * YEAR).prop_map(|x| u64::MAX - x)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn model(start in start(), ops in prop::collection::vec(op(), 1..200)) {
        let mut m = Model {
            wheel: Wheel::new(start),
            live: BTreeSet::new(),
            by_key: HashMap::new(),
            keys: Vec::new(),
            clock: start,
        };
        m.check();
        for op in &ops {
            m.apply(op);
        }
        // Everything still live fires exactly once at the end of time.
        m.clock = u64::MAX;
        while m.poll_once(u64::MAX).is_some() {}
        m.check();
        prop_assert!(m.live.is_empty() && m.by_key.is_empty() && m.wheel.is_empty());
    }
}
