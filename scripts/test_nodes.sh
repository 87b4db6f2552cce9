#!/usr/bin/env bash
# The API test suite against several `serve` nodes over one store, behind the tests' round-robin
# proxy (tests/common/nodes.rs), plus the multi-node tests (tests/multi_node.rs).
#
#   bash scripts/test_nodes.sh                       # two nodes over PostgreSQL and S3
#   IMAGEDESK_TEST_NODES=1 IMAGEDESK_TEST_STORE=sqlite bash scripts/test_nodes.sh   # one node, proxied
#
# Every test file below runs unchanged: `common::start` reads IMAGEDESK_TEST_NODES and
# IMAGEDESK_TEST_STORE. The PostgreSQL cluster and the S3 server are the fixtures in
# tests/common/{postgres,s3}.rs (installed by .ci/run; IMAGEDESK_S3S_FS names the s3s-fs binary).
set -euo pipefail
cd "$(dirname "$0")/.."

export IMAGEDESK_TEST_NODES="${IMAGEDESK_TEST_NODES:-2}"
export IMAGEDESK_TEST_STORE="${IMAGEDESK_TEST_STORE:-postgres-s3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/imagedesk-ci/target}"
if [[ -z "${IMAGEDESK_S3S_FS:-}" && -x /var/cache/imagedesk-ci/s3s/bin/s3s-fs ]]; then
  export IMAGEDESK_S3S_FS=/var/cache/imagedesk-ci/s3s/bin/s3s-fs
fi

files=(api_images api_errors api_hardening api_real_store api_scale compat_store upload_limits multi_node)

# What is not the store's to promise, but one node's (docs/deploy.md, "What is shared"). Not in
# the list: tests/server_limits.rs as a whole — it opens raw TCP connections to one server to
# test that server's time-outs, connection caps, shutdown and /metrics; behind the proxy it
# would test the proxy.
skip=()
if (( IMAGEDESK_TEST_NODES > 1 )); then
  skip+=(
  # --rate-limit counts per node (SPEC §3; `serve --help`): a token gets the quota once per node.
  rate_limit_headers_and_client_waits
  client_waits_out_a_short_rate_limit
  clones_share_one_budget_and_pace_themselves_instead_of_running_into_429s
  bc_v2_quota_is_one_for_the_store_whatever_the_credentials
  # --faults draws from a generator per node: with requests alternating between nodes, neither
  # sees the sequence the test predicts from the seed.
  the_same_seed_gives_the_same_faults
  a_create_whose_answer_is_lost_after_commit_still_lands
  a_closed_connection_is_an_error_to_reqwest
  # It reads /metrics through the proxy after a request that went to the other node: each node
  # counts what it answered (common::requests_counted sums them for the tests that count).
  operations_and_openapi
  )
fi
if [[ "$IMAGEDESK_TEST_STORE" != sqlite ]]; then
  skip+=(
    # They open imagedesk.sqlite3 in --data-dir to age or plant rows.
    products_date_modified_follows_image_writes
    an_image_of_the_legacy_layout_is_served_and_deleted
  )
fi
if [[ "$IMAGEDESK_TEST_STORE" == postgres-s3 ]]; then
  skip+=(
    # They count the pictures stored by content in --data-dir; in a bucket each image has its
    # own objects (no sharing by content), which the S3 tests check instead.
    identical_bytes_share_files_and_a_delete_keeps_the_others_picture
    a_delete_racing_an_upload_of_the_same_bytes_never_loses_the_files
    # --seed-synthetic keeps its pictures in --data-dir and refuses --storage (by design).
    a_seeded_store_has_its_counts_lists_pictures_and_dates
    min_date_modified_is_right_with_few_and_with_many_changes
  )
fi

args=()
for f in "${files[@]}"; do args+=(--test "$f"); done
filters=()
for s in "${skip[@]}"; do filters+=(--skip "$s"); done
echo "nodes=$IMAGEDESK_TEST_NODES store=$IMAGEDESK_TEST_STORE; skipped: ${skip[*]:-none}"

timeout 1800 cargo test --locked --no-fail-fast "${args[@]}" -- ${filters[@]+"${filters[@]}"}
