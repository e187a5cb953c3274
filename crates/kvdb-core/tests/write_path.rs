//! The write path's steps: a prepared batch takes the numbers it is
//! assigned (or a replayed record's), is invisible until its receipt is
//! published, and a range that does not fit is refused with nothing applied.

use kvdb_core::{CoreError, Op, PreparedBatch, SeqRange, Store};

fn puts<'a>(keys: &'a [&'a [u8]]) -> Vec<Op<'a>> {
    keys.iter()
        .map(|k| Op::Put {
            key: k,
            value: b"v",
            expires_at: None,
        })
        .collect()
}

#[test]
fn an_applied_batch_is_invisible_until_its_receipt_is_published() {
    let store = Store::new();
    let ops = puts(&[b"a", b"b"]);
    let batch = PreparedBatch::new(&ops).unwrap();
    let mut writer = store.writer().unwrap();
    let range = writer.assign(&batch).unwrap();
    assert_eq!((range.first(), range.last()), (1, 2));
    let applied = writer.apply(&batch, range).unwrap();
    drop(writer);
    assert_eq!(store.applied_seq(), 2);
    assert_eq!(store.get(b"a").unwrap(), None, "visible before publishing");
    store.publish(applied);
    assert_eq!(store.visible_seq(), 2);
    assert_eq!(store.get(b"b").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn an_empty_batch_takes_no_sequence_number() {
    let store = Store::new();
    let batch = PreparedBatch::new(&[]).unwrap();
    assert!(store.writer().unwrap().assign(&batch).is_none());
    assert_eq!(store.write(&[]).unwrap(), 0);
    assert_eq!(store.write(&puts(&[b"a"])).unwrap(), 1);
}

#[test]
fn a_replayed_range_may_skip_ahead_but_never_go_back() {
    let store = Store::new();
    let ops = puts(&[b"a", b"b"]);
    let batch = PreparedBatch::new(&ops).unwrap();
    let mut writer = store.writer().unwrap();
    let applied = writer
        .apply(&batch, SeqRange::starting_at(10, 2).unwrap())
        .unwrap();
    assert_eq!(applied.last(), 11);
    assert_eq!(writer.next_seq(), 12);
    let err = writer
        .apply(&batch, SeqRange::starting_at(11, 2).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::SequenceRegression {
                expected: 12,
                got: 11
            }
        ),
        "{err}"
    );
    assert_eq!(writer.latest_seq(b"a"), Some(10), "a refused range applied");
}

#[test]
fn a_range_of_another_length_is_refused_with_nothing_applied() {
    let store = Store::new();
    let ops = puts(&[b"a", b"b"]);
    let batch = PreparedBatch::new(&ops).unwrap();
    let mut writer = store.writer().unwrap();
    let err = writer
        .apply(&batch, SeqRange::starting_at(1, 3).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::RangeMismatch {
                operations: 2,
                numbers: 3
            }
        ),
        "{err}"
    );
    assert_eq!(writer.latest_seq(b"a"), None);
    assert_eq!(writer.next_seq(), 1);
}

#[test]
fn publishing_an_older_receipt_does_not_hide_newer_writes() {
    let store = Store::new();
    let ops = puts(&[b"a"]);
    let batch = PreparedBatch::new(&ops).unwrap();
    let mut writer = store.writer().unwrap();
    let first = writer
        .apply(&batch, writer.assign(&batch).unwrap())
        .unwrap();
    let second = writer
        .apply(&batch, writer.assign(&batch).unwrap())
        .unwrap();
    drop(writer);
    store.publish(second);
    store.publish(first);
    assert_eq!(store.visible_seq(), 2);
}
