//! The reorder planner: the fewest `PUT sort_order` writes that turn a product's current image
//! order into a desired one, under SPEC's shift rule ("writing k first adds 1 to every *other*
//! image at or after k; writing an image's own value shifts nothing").
//!
//! With distinct sort_orders the images outside a longest increasing subsequence (LIS) of the old
//! order are moved, each once, inserted right-to-left just before its successor: n − LIS writes,
//! which is optimal because an image that is never written keeps its order relative to every
//! other unwritten image. Ties add one constraint — two unwritten images that share a value can
//! never be separated — so the kept set is the longest chain that never needs a tie split; where
//! ties make even that chain's plan impossible, small lists (at most [`EXACT_SEARCH_LIMIT`]
//! images) are solved by an exhaustive breadth-first search.

use std::collections::{HashMap, HashSet, VecDeque};

/// One write of the plan: `PUT …/images/{image_id}` with `{"sort_order": sort_order}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortWrite {
    pub image_id: i64,
    pub sort_order: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("the desired order must name each of the product's {expected} images exactly once")]
    NotAPermutation { expected: usize },
}

/// Lists with ties up to this size are solved exactly when the kept-chain plan does not apply.
pub const EXACT_SEARCH_LIMIT: usize = 8;

/// Image ids in list order: by (`sort_order`, `id`).
pub fn list_order(images: &[(i64, i64)]) -> Vec<i64> {
    let mut sorted = images.to_vec();
    sorted.sort_by_key(|&(id, so)| (so, id));
    sorted.into_iter().map(|(id, _)| id).collect()
}

/// What the server does for `PUT sort_order = k` on `image_id` (SPEC §1).
pub fn apply_write(images: &mut [(i64, i64)], write: SortWrite) {
    let Some(current) = images
        .iter()
        .find(|(id, _)| *id == write.image_id)
        .map(|&(_, so)| so)
    else {
        return;
    };
    if current == write.sort_order {
        return;
    }
    for (id, so) in images.iter_mut() {
        if *id == write.image_id {
            *so = write.sort_order;
        } else if *so >= write.sort_order {
            *so += 1;
        }
    }
}

/// Plans the fewest writes that make the list order of `current` (`(id, sort_order)` pairs)
/// equal to `desired` (ids).
pub fn plan_reorder(current: &[(i64, i64)], desired: &[i64]) -> Result<Vec<SortWrite>, PlanError> {
    let ids: HashSet<i64> = current.iter().map(|&(id, _)| id).collect();
    let desired_set: HashSet<i64> = desired.iter().copied().collect();
    if ids.len() != current.len() || desired.len() != current.len() || desired_set != ids {
        return Err(PlanError::NotAPermutation {
            expected: current.len(),
        });
    }
    if list_order(current) == desired {
        return Ok(Vec::new());
    }
    let plan = plan_by_kept_chain(current, desired);
    let has_ties = {
        let values: HashSet<i64> = current.iter().map(|&(_, so)| so).collect();
        values.len() < current.len()
    };
    if !has_ties {
        // Proven optimal and always valid without ties.
        if let Some(plan) = plan {
            return Ok(plan);
        }
    }
    if current.len() <= EXACT_SEARCH_LIMIT
        && let Some(exact) = exact_search(current, desired)
    {
        return Ok(exact);
    }
    Ok(plan.unwrap_or_else(|| append_in_order(current, desired)))
}

/// Keeps the longest chain of images that are already in desired order and never need a tie
/// split, then inserts every other image just before its desired successor, right to left.
/// Returns `None` if a tie makes that insertion impossible for this chain.
fn plan_by_kept_chain(current: &[(i64, i64)], desired: &[i64]) -> Option<Vec<SortWrite>> {
    let position: HashMap<i64, usize> =
        desired.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let mut sorted = current.to_vec();
    sorted.sort_by_key(|&(id, so)| (so, id));
    let n = sorted.len();
    let pos: Vec<usize> = sorted.iter().map(|(id, _)| position[id]).collect();

    // Longest chain: increasing desired positions along the current order, where two
    // consecutive kept images that share a value must also be adjacent in the desired order.
    let mut best = vec![1usize; n];
    let mut prev = vec![usize::MAX; n];
    for j in 0..n {
        for i in 0..j {
            let compatible =
                pos[i] < pos[j] && (sorted[i].1 != sorted[j].1 || pos[j] == pos[i] + 1);
            if compatible && best[i] + 1 > best[j] {
                best[j] = best[i] + 1;
                prev[j] = i;
            }
        }
    }
    let mut kept = HashSet::new();
    let mut at = (0..n).max_by_key(|&j| best[j])?;
    loop {
        kept.insert(sorted[at].0);
        if prev[at] == usize::MAX {
            break;
        }
        at = prev[at];
    }

    let mut state = current.to_vec();
    let value_of =
        |state: &[(i64, i64)], id: i64| state.iter().find(|(i, _)| *i == id).map(|&(_, so)| so);
    let mut writes = Vec::with_capacity(n - kept.len());
    for i in (0..n).rev() {
        let x = desired[i];
        if kept.contains(&x) {
            continue;
        }
        let own = value_of(&state, x)?;
        let k = match desired.get(i + 1) {
            Some(&successor) => {
                let v = value_of(&state, successor)?;
                if v == own {
                    // Tied with its successor: writing v would change nothing, so aim just below
                    // it, which needs a free value above every image that must stay before x.
                    let floor = desired[..i]
                        .iter()
                        .filter(|id| kept.contains(id))
                        .filter_map(|&id| value_of(&state, id))
                        .max();
                    let k = v - 1;
                    if k < 0 || floor.is_some_and(|f| f >= k) {
                        return None;
                    }
                    k
                } else {
                    v
                }
            }
            None => value_after_others(&state, x),
        };
        let write = SortWrite {
            image_id: x,
            sort_order: k,
        };
        apply_write(&mut state, write);
        writes.push(write);
    }
    (list_order(&state) == desired).then_some(writes)
}

/// The `sort_order` that puts `id` after every other image.
fn value_after_others(state: &[(i64, i64)], id: i64) -> i64 {
    state
        .iter()
        .filter(|(i, _)| *i != id)
        .map(|&(_, so)| so)
        .max()
        .map_or(0, |m| m + 1)
}

/// Always valid, never short: sends every image to the end, in desired order.
fn append_in_order(current: &[(i64, i64)], desired: &[i64]) -> Vec<SortWrite> {
    let mut state = current.to_vec();
    let mut writes = Vec::with_capacity(desired.len());
    for &id in desired {
        let write = SortWrite {
            image_id: id,
            sort_order: value_after_others(&state, id),
        };
        apply_write(&mut state, write);
        writes.push(write);
    }
    writes
}

/// The state reduced to what the shift rule can tell apart: the order of values, which images
/// share one, and whether a free value lies below the smallest or between two neighbours.
fn canonical(state: &[(i64, i64)]) -> Vec<i64> {
    let mut values: Vec<i64> = state.iter().map(|&(_, so)| so).collect();
    values.sort_unstable();
    values.dedup();
    let mut map = HashMap::new();
    let mut next = if values.first().is_some_and(|&v| v > 0) {
        1
    } else {
        0
    };
    for (i, &v) in values.iter().enumerate() {
        if i > 0 && v > values[i - 1] + 1 {
            next += 1; // keep one free value for the gap
        }
        map.insert(v, next);
        next += 1;
    }
    state.iter().map(|(_, so)| map[so]).collect()
}

/// Converts a write chosen on the canonical state into one with the same effect on the real one.
fn real_value(state: &[(i64, i64)], canon: &[i64], k: i64) -> i64 {
    if let Some(i) = canon.iter().position(|&c| c == k) {
        return state[i].1;
    }
    let max_canon = canon.iter().copied().max().unwrap_or(-1);
    if k > max_canon {
        return state.iter().map(|&(_, so)| so).max().map_or(0, |m| m + 1);
    }
    // A gap: the value just above the group below it (or 0 below the smallest).
    canon
        .iter()
        .zip(state)
        .filter(|(c, _)| **c == k - 1)
        .map(|(_, &(_, so))| so + 1)
        .next()
        .unwrap_or(0)
}

/// How a search state was reached: (previous state, index of the image written, canonical k).
type Step = (Vec<i64>, usize, i64);

/// Breadth-first search over canonical states: the fewest writes, for small lists.
fn exact_search(current: &[(i64, i64)], desired: &[i64]) -> Option<Vec<SortWrite>> {
    let ids: Vec<i64> = current.iter().map(|&(id, _)| id).collect();
    let as_state = |canon: &[i64]| -> Vec<(i64, i64)> {
        ids.iter().copied().zip(canon.iter().copied()).collect()
    };
    let start = canonical(current);
    let mut parent: HashMap<Vec<i64>, Option<Step>> = HashMap::new();
    parent.insert(start.clone(), None);
    let mut queue = VecDeque::from([start]);
    let mut goal = None;
    while let Some(canon) = queue.pop_front() {
        if list_order(&as_state(&canon)) == desired {
            goal = Some(canon);
            break;
        }
        let max = canon.iter().copied().max().unwrap_or(0);
        for (index, &id) in ids.iter().enumerate() {
            for k in 0..=max + 1 {
                let mut next = as_state(&canon);
                apply_write(
                    &mut next,
                    SortWrite {
                        image_id: id,
                        sort_order: k,
                    },
                );
                let next = canonical(&next);
                if !parent.contains_key(&next) {
                    parent.insert(next.clone(), Some((canon.clone(), index, k)));
                    queue.push_back(next);
                }
            }
        }
    }
    let mut moves = Vec::new();
    let mut at = goal?;
    while let Some(Some((before, index, k))) = parent.get(&at) {
        moves.push((*index, *k));
        at = before.clone();
    }
    moves.reverse();
    // Replay on the real values, translating each canonical k.
    let mut state = current.to_vec();
    let mut writes = Vec::with_capacity(moves.len());
    for (index, k) in moves {
        let canon = canonical(&state);
        let write = SortWrite {
            image_id: ids[index],
            sort_order: real_value(&state, &canon, k),
        };
        apply_write(&mut state, write);
        writes.push(write);
    }
    (list_order(&state) == desired).then_some(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_move_is_one_write_up_and_down() {
        let current: Vec<(i64, i64)> = (1..=5).map(|id| (id, id * 10)).collect();
        let up = plan_reorder(&current, &[1, 4, 2, 3, 5]).unwrap();
        assert_eq!(
            up,
            vec![SortWrite {
                image_id: 4,
                sort_order: 20
            }]
        );
        let down = plan_reorder(&current, &[2, 3, 1, 4, 5]).unwrap();
        assert_eq!(down.len(), 1);
    }

    #[test]
    fn tie_split_uses_a_gap() {
        // A(0) B(5) C(5): C must go before B.
        let current = [(1, 0), (2, 5), (3, 5)];
        let plan = plan_reorder(&current, &[1, 3, 2]).unwrap();
        assert_eq!(plan.len(), 1);
        let mut state = current.to_vec();
        plan.iter().for_each(|w| apply_write(&mut state, *w));
        assert_eq!(list_order(&state), vec![1, 3, 2]);
    }

    #[test]
    fn refuses_other_id_sets() {
        assert!(plan_reorder(&[(1, 0), (2, 1)], &[1]).is_err());
        assert!(plan_reorder(&[(1, 0), (2, 1)], &[1, 3]).is_err());
        assert!(plan_reorder(&[(1, 0), (2, 1)], &[1, 1]).is_err());
    }
}
