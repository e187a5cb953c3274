//! Order-preserving encodings: each turns a typed value into bytes whose
//! lexicographic order is the value's natural order, so the store's byte-
//! ordered keys sort index entries the way users expect.
//!
//! - unsigned integers: big-endian;
//! - signed integers: big-endian with the sign bit flipped;
//! - JSON scalars: a type tag, then the value. Tags order null < false <
//!   true < numbers < strings. Strings are their UTF-8 bytes (byte order is
//!   code-point order). Numbers are exact for every `i64` and `u64` and
//!   every finite `f64`, and `30` equals `30.0`: the value rounded to `f64`
//!   in its total order, then the integer's distance from that rounding
//!   (zero for floats), as a signed integer.

use serde_json::Value;

/// Tag of a JSON `null`.
pub const JSON_NULL: u8 = 0x10;
/// Tag of a JSON `false`.
pub const JSON_FALSE: u8 = 0x20;
/// Tag of a JSON `true`.
pub const JSON_TRUE: u8 = 0x21;
/// Tag of a JSON number; 16 bytes follow.
pub const JSON_NUMBER: u8 = 0x30;
/// Tag of a JSON string; its UTF-8 bytes follow.
pub const JSON_STRING: u8 = 0x40;

/// `v` as 4 order-preserving bytes.
pub fn u32_key(v: u32) -> [u8; 4] {
    v.to_be_bytes()
}

/// `v` as 8 order-preserving bytes.
pub fn u64_key(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// `v` as 4 order-preserving bytes.
pub fn i32_key(v: i32) -> [u8; 4] {
    ((v as u32) ^ (1 << 31)).to_be_bytes()
}

/// `v` as 8 order-preserving bytes.
pub fn i64_key(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Finite `v` as 8 bytes in IEEE 754 total order (`-0.0` counts as `0.0`).
pub fn f64_key(v: f64) -> [u8; 8] {
    let v = if v == 0.0 { 0.0 } else { v };
    let bits = v.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// The index key of a JSON scalar; `None` for arrays and objects (not
/// indexed) and for numbers that are not finite.
pub fn json_key(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::Null => Some(vec![JSON_NULL]),
        Value::Bool(false) => Some(vec![JSON_FALSE]),
        Value::Bool(true) => Some(vec![JSON_TRUE]),
        Value::Number(n) => {
            let (rounded, distance) = if let Some(i) = n.as_i64() {
                let r = i as f64;
                (r, i128::from(i) - r as i128)
            } else if let Some(u) = n.as_u64() {
                let r = u as f64;
                (r, i128::from(u) - r as i128)
            } else {
                (n.as_f64()?, 0)
            };
            if !rounded.is_finite() {
                return None;
            }
            let mut out = Vec::with_capacity(17);
            out.push(JSON_NUMBER);
            out.extend_from_slice(&f64_key(rounded));
            // |distance| is at most half a unit in the last place of a
            // 64-bit integer's rounding (2^10), so it fits an i64.
            out.extend_from_slice(&i64_key(distance as i64));
            Some(out)
        }
        Value::String(s) => {
            let mut out = Vec::with_capacity(1 + s.len());
            out.push(JSON_STRING);
            out.extend_from_slice(s.as_bytes());
            Some(out)
        }
        Value::Array(_) | Value::Object(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    proptest! {
        #[test]
        fn signed_keys_sort_like_the_integers(a: i64, b: i64) {
            prop_assert_eq!(a.cmp(&b), i64_key(a).cmp(&i64_key(b)));
        }

        #[test]
        fn i32_keys_sort_like_the_integers(a: i32, b: i32) {
            prop_assert_eq!(a.cmp(&b), i32_key(a).cmp(&i32_key(b)));
        }

        #[test]
        fn float_keys_sort_like_the_floats(a in proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL,
                                           b in proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL) {
            prop_assert_eq!(a.partial_cmp(&b).unwrap(), f64_key(a).cmp(&f64_key(b)));
        }

        #[test]
        fn json_integers_sort_exactly_even_beyond_f64_precision(a: i64, b: u64) {
            let ka = json_key(&json!(a)).unwrap();
            let kb = json_key(&json!(b)).unwrap();
            prop_assert_eq!(i128::from(a).cmp(&i128::from(b)), ka.cmp(&kb));
        }

        #[test]
        fn json_integers_and_floats_interleave_in_numeric_order(a: i64, b in -1e19f64..1e19) {
            let ka = json_key(&json!(a)).unwrap();
            let kb = json_key(&json!(b)).unwrap();
            // Exactly: a float with a fraction is below 2^52 in magnitude,
            // where an i64 converts to f64 without changing the order.
            let expected = if b.fract() == 0.0 {
                i128::from(a).cmp(&(b as i128))
            } else {
                (a as f64).partial_cmp(&b).unwrap()
            };
            prop_assert_eq!(expected, ka.cmp(&kb));
        }

        #[test]
        fn json_strings_sort_by_code_point(a: String, b: String) {
            let ka = json_key(&json!(a)).unwrap();
            let kb = json_key(&json!(b)).unwrap();
            prop_assert_eq!(a.chars().cmp(b.chars()), ka.cmp(&kb));
        }
    }

    #[test]
    fn json_scalar_types_sort_null_bools_numbers_strings() {
        let keys: Vec<_> = [
            json!(null),
            json!(false),
            json!(true),
            json!(-1e300),
            json!(0),
            json!(u64::MAX),
            json!(""),
            json!("a"),
        ]
        .iter()
        .map(|v| json_key(v).unwrap())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    }

    #[test]
    fn json_integer_and_equal_float_have_one_key() {
        assert_eq!(json_key(&json!(30)), json_key(&json!(30.0)));
        assert_eq!(json_key(&json!(-0.0)), json_key(&json!(0)));
    }

    #[test]
    fn json_containers_have_no_key() {
        assert_eq!(json_key(&json!([1])), None);
        assert_eq!(json_key(&json!({"a": 1})), None);
    }

    #[test]
    fn integers_beyond_f64_precision_stay_distinct() {
        let a = json_key(&json!(9_007_199_254_740_993u64)).unwrap();
        let b = json_key(&json!(9_007_199_254_740_992u64)).unwrap();
        assert!(b < a);
    }
}
