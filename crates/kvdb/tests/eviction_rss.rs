//! The memory limit measured from outside (see `common::rss`): resident
//! memory after a churn stays within 10% of the limit plus a fixed
//! allowance. Alone in its binary, so that no other test's memory is
//! counted.

mod common;

#[test]
fn resident_memory_stays_within_the_limit_under_churn() {
    common::rss::resident_memory_stays_within_the_limit(false);
}
