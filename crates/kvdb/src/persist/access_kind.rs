//! Which access kind of a snapshot file records which of the store's
//! tracking modes: the one mapping both the writer and the loader use.

use kvdb_core::Tracking;
use kvdb_snapshot::format::AccessKind;

/// What a snapshot records of its keys' use when the store records
/// `tracking`.
pub(crate) fn recorded_kind(tracking: Tracking) -> AccessKind {
    match tracking {
        Tracking::Off => AccessKind::None,
        Tracking::Lru => AccessKind::Recency,
        Tracking::Lfu => AccessKind::Frequency,
    }
}

/// The tracking whose words a snapshot's access kind records, if any.
pub(crate) fn recorded_as(access: AccessKind) -> Option<Tracking> {
    match access {
        AccessKind::None => None,
        AccessKind::Recency => Some(Tracking::Lru),
        AccessKind::Frequency => Some(Tracking::Lfu),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tracking_that_records_reads_back_as_itself() {
        for tracking in [Tracking::Off, Tracking::Lru, Tracking::Lfu] {
            let back = recorded_as(recorded_kind(tracking));
            assert_eq!(back, (tracking != Tracking::Off).then_some(tracking));
        }
    }
}
