//! Property tests of the reorder planner on a simulated server (SPEC's shift rule).

use std::collections::{HashMap, HashSet, VecDeque};

use imagedesk::api::reorder::{SortWrite, apply_write, list_order, plan_reorder};
use proptest::prelude::*;

fn run(current: &[(i64, i64)], plan: &[SortWrite]) -> Vec<i64> {
    let mut state = current.to_vec();
    for w in plan {
        apply_write(&mut state, *w);
    }
    list_order(&state)
}

fn lis_len(seq: &[usize]) -> usize {
    let mut tails: Vec<usize> = Vec::new();
    for &x in seq {
        match tails.binary_search(&x) {
            Ok(_) => {}
            Err(i) if i == tails.len() => tails.push(x),
            Err(i) => tails[i] = x,
        }
    }
    tails.len()
}

/// The fewest writes, by breadth-first search over real sort_order values (small cases only).
fn brute_force_min(current: &[(i64, i64)], desired: &[i64], limit: usize) -> usize {
    let ids: Vec<i64> = current.iter().map(|&(id, _)| id).collect();
    let start: Vec<i64> = current.iter().map(|&(_, so)| so).collect();
    let mut seen = HashSet::from([start.clone()]);
    let mut queue = VecDeque::from([(start, 0usize)]);
    while let Some((values, depth)) = queue.pop_front() {
        let state: Vec<(i64, i64)> = ids.iter().copied().zip(values.iter().copied()).collect();
        if list_order(&state) == desired {
            return depth;
        }
        if depth == limit {
            continue;
        }
        let max = values.iter().copied().max().unwrap_or(0);
        for &id in &ids {
            for k in 0..=max + 1 {
                let mut next = state.clone();
                apply_write(
                    &mut next,
                    SortWrite {
                        image_id: id,
                        sort_order: k,
                    },
                );
                let next_values: Vec<i64> = next.iter().map(|&(_, so)| so).collect();
                if seen.insert(next_values.clone()) {
                    queue.push_back((next_values, depth + 1));
                }
            }
        }
    }
    usize::MAX
}

/// Images 1..=n with the given sort_orders, and a random desired order of them.
fn with_shuffled_desired(values: Vec<i64>) -> impl Strategy<Value = (Vec<(i64, i64)>, Vec<i64>)> {
    let n = values.len() as i64;
    let current: Vec<(i64, i64)> = (1..=n).zip(values).collect();
    Just((1..=n).collect::<Vec<_>>())
        .prop_shuffle()
        .prop_map(move |desired| (current.clone(), desired))
}

fn distinct_case() -> impl Strategy<Value = (Vec<(i64, i64)>, Vec<i64>)> {
    (1usize..40)
        .prop_flat_map(|n| proptest::collection::hash_set(0i64..1000, n))
        .prop_flat_map(|values| with_shuffled_desired(values.into_iter().collect()))
}

fn small_case_with_ties() -> impl Strategy<Value = (Vec<(i64, i64)>, Vec<i64>)> {
    (1usize..=6)
        .prop_flat_map(|n| proptest::collection::vec(0i64..4, n))
        .prop_flat_map(with_shuffled_desired)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn distinct_plans_are_n_minus_lis((current, desired) in distinct_case()) {
        let plan = plan_reorder(&current, &desired).unwrap();
        prop_assert_eq!(run(&current, &plan), desired.clone());
        let position: HashMap<i64, usize> = desired.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        let seq: Vec<usize> = list_order(&current).iter().map(|id| position[id]).collect();
        prop_assert_eq!(plan.len(), current.len() - lis_len(&seq));
    }

    #[test]
    fn plans_with_ties_are_valid_and_minimal((current, desired) in small_case_with_ties()) {
        let plan = plan_reorder(&current, &desired).unwrap();
        prop_assert_eq!(run(&current, &plan), desired.clone());
        if !plan.is_empty() {
            let best = brute_force_min(&current, &desired, plan.len() - 1);
            prop_assert!(best >= plan.len(), "a plan of {} writes exists, planner used {}", best, plan.len());
        }
    }

    #[test]
    fn moving_one_image_is_one_write(n in 2usize..30, from in 0usize..30, to in 0usize..30) {
        let (from, to) = (from % n, to % n);
        let current: Vec<(i64, i64)> = (0..n as i64).map(|i| (i + 1, i * 3)).collect();
        let mut desired: Vec<i64> = list_order(&current);
        let moved = desired.remove(from);
        desired.insert(to, moved);
        let plan = plan_reorder(&current, &desired).unwrap();
        prop_assert_eq!(plan.len(), usize::from(from != to));
        prop_assert_eq!(run(&current, &plan), desired);
    }
}

#[test]
fn random_permutation_of_100_is_n_minus_lis() {
    let current: Vec<(i64, i64)> = (0..100).map(|i| (i + 1, i)).collect();
    let mut desired: Vec<i64> = (1..=100).collect();
    // A fixed shuffle (LCG) so the test is reproducible.
    let mut x = 12345u64;
    for i in (1..desired.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        desired.swap(i, (x >> 33) as usize % (i + 1));
    }
    let plan = plan_reorder(&current, &desired).unwrap();
    let position: HashMap<i64, usize> =
        desired.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let seq: Vec<usize> = (1..=100).map(|id| position[&id]).collect();
    assert_eq!(plan.len(), 100 - lis_len(&seq));
    assert_eq!(run(&current, &plan), desired);
}
