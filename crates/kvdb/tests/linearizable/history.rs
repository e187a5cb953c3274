//! Wing and Gong's search for a linearization of a round's history, and
//! the listing of a history that has none.

use std::collections::HashSet;

use crate::model::*;

/// The readings the clock may have shown during each call of `calls`: at
/// least what it showed once every advance answered before the call was
/// invoked, at most what it showed once every advance invoked before the
/// call answered.
pub(crate) fn clock_readings(calls: &[Record], advances: &[Record]) -> Vec<Vec<u64>> {
    calls
        .iter()
        .map(|c| {
            let low = advances.iter().filter(|a| a.answered < c.invoked).count() as u64;
            let high = advances.iter().filter(|a| a.invoked < c.answered).count() as u64;
            (low..=high).map(|n| START_MS + n * STEP_MS).collect()
        })
        .collect()
}

/// Where the search stands: the calls done (a bit each), the keys'
/// entries, the evictions of each key still to come, and the newest
/// reading a write took.
pub(crate) type Point = (u64, State, [u32; 2], u64);

/// Wing and Gong's search: can the calls not in `done` be ordered, from
/// keys holding `state`, so that each answers as it did with the clock
/// showing one of its `clocks` (a write's no earlier than the one before
/// it, from `written`), with the `evictions` of each key still to come
/// placed among them? An eviction deletes a key that holds a value: a
/// write of its own, made by a write that needed room before that write
/// takes effect, so it may fall anywhere in the order.
pub(crate) fn search(
    calls: &[Record],
    clocks: &[Vec<u64>],
    (done, state, evictions, written): Point,
    tried: &mut HashSet<Point>,
) -> bool {
    if done.count_ones() as usize == calls.len() && evictions == [0; 2] {
        return true;
    }
    if !tried.insert((done, state, evictions, written)) {
        return false;
    }
    let evicted = (0..KEYS.len()).any(|k| {
        if evictions[k] == 0 || state[k].is_none() {
            return false;
        }
        let (mut next, mut left) = (state, evictions);
        next[k] = None;
        left[k] -= 1;
        search(calls, clocks, (done, next, left, written), tried)
    });
    if evicted {
        return true;
    }
    let pending = || (0..calls.len()).filter(move |i| done & (1 << i) == 0);
    // A call can go next only if it was invoked before every pending call
    // was answered.
    let Some(first_answer) = pending().map(|i| calls[i].answered).min() else {
        return false;
    };
    pending()
        .filter(|&i| calls[i].invoked < first_answer)
        .any(|i| {
            let outcomes = if calls[i].answer == Answer::Refused {
                vec![(state, Answer::Refused, written)]
            } else {
                apply(state, calls[i].call, &clocks[i], written)
            };
            outcomes.into_iter().any(|(next, answer, written)| {
                answer == calls[i].answer
                    && search(
                        calls,
                        clocks,
                        (done | 1 << i, next, evictions, written),
                        tried,
                    )
            })
        })
}

/// The history, one call a line in the order they were invoked, with the
/// clock readings each may have seen.
pub(crate) fn listing(calls: &[Record], advances: &[Record], clocks: &[Vec<u64>]) -> String {
    let mut lines: Vec<(u64, String)> = calls
        .iter()
        .zip(clocks)
        .map(|(r, clocks)| {
            let clocks: Vec<u64> = clocks.iter().map(|c| c - START_MS).collect();
            let line = format!(
                "{:>4}-{:<4} {:?} -> {:?}  clock +{clocks:?}",
                r.invoked, r.answered, r.call, r.answer
            );
            (r.invoked, line)
        })
        .chain(advances.iter().map(|r| {
            (
                r.invoked,
                format!("{:>4}-{:<4} Advance", r.invoked, r.answered),
            )
        }))
        .collect();
    lines.sort();
    lines.into_iter().map(|(_, line)| line + "\n").collect()
}
