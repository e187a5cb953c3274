//! The memory limit measured from outside with a secondary index (see
//! `common::rss`): every key has an entry (a record, node, version and hash
//! slot in the index key space) the limit must count as it counts the
//! keys', and resident memory after a churn stays within 10% of the limit
//! plus a fixed allowance, as without an index (`eviction_rss.rs`). Alone
//! in its binary, so that no other test's memory is counted.

mod common;

#[test]
fn resident_memory_stays_within_the_limit_under_churn_with_an_index() {
    common::rss::resident_memory_stays_within_the_limit(true);
}
