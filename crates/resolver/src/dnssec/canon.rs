//! Canonical DNS name order (RFC 4034 §6.1) and the name relations that
//! denial-of-existence proofs are built from.
//!
//! hickory's `Name` ordering is also canonical, but the proofs depend on it
//! so much that the comparison is spelled out (and tested) here.

use std::cmp::Ordering;

use hickory_proto::rr::Name;

/// RFC 4034 §6.1: compare labels right to left, each as a lowercase octet
/// string where the absence of an octet sorts before a zero octet.
pub(crate) fn canonical_cmp(a: &Name, b: &Name) -> Ordering {
    let mut la = a.iter().rev();
    let mut lb = b.iter().rev();
    loop {
        match (la.next(), lb.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let o = x
                    .iter()
                    .map(u8::to_ascii_lowercase)
                    .cmp(y.iter().map(u8::to_ascii_lowercase));
                if o != Ordering::Equal {
                    return o;
                }
            }
        }
    }
}

/// Whether `name` falls strictly between an NSEC's owner and its next name
/// in canonical order; the last NSEC of a zone wraps to the apex.
pub(crate) fn covers(owner: &Name, next: &Name, name: &Name) -> bool {
    let after_owner = canonical_cmp(owner, name) == Ordering::Less;
    let before_next = canonical_cmp(name, next) == Ordering::Less;
    if canonical_cmp(owner, next) == Ordering::Less {
        after_owner && before_next
    } else {
        // Wrap-around (next is the apex, or a single-NSEC zone).
        after_owner || before_next
    }
}

/// Number of labels, counting a leading `*` (unlike `Name::num_labels`).
pub(crate) fn label_count(name: &Name) -> usize {
    name.iter().count()
}

/// `ancestor` is a proper ancestor of `name`.
pub(crate) fn is_proper_ancestor(ancestor: &Name, name: &Name) -> bool {
    ancestor.zone_of(name) && label_count(ancestor) < label_count(name)
}

/// The deepest name that is an ancestor-or-self of both `a` and `b`.
pub(crate) fn common_ancestor(a: &Name, b: &Name) -> Name {
    let shared = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
        .count();
    a.trim_to(shared)
}

/// `*.<name>`, or `None` if the name is too long to take another label.
pub(crate) fn wildcard_of(name: &Name) -> Option<Name> {
    name.prepend_label("*").ok()
}

/// The ancestor of `name` with exactly one label more than `ancestor`
/// (the "next closer name" of RFC 5155 §1.3 when `ancestor` is the closest
/// encloser). `None` if `ancestor` is not a proper ancestor of `name`.
pub(crate) fn next_closer(name: &Name, ancestor: &Name) -> Option<Name> {
    if !is_proper_ancestor(ancestor, name) {
        return None;
    }
    Some(name.trim_to(label_count(ancestor) + 1))
}

/// `name` cut to its `num_labels` rightmost labels, as hickory's
/// `Name::trim_to`, which builds its result through `Name::from_labels`
/// (two `Vec`s and a `Label` per label): ~1,700 instructions for a
/// four-label name, several times per real miss (issue 20). This
/// appends the kept labels to the root instead. `name` itself if it has
/// fewer labels than that. The labels keep their case.
pub(crate) fn trim_to(name: &Name, num_labels: usize) -> Name {
    let have = name.iter().len();
    if num_labels > have {
        return name.clone();
    }
    let mut out = Name::root();
    for label in name.iter().skip(have - num_labels) {
        out = match out.append_label(label) {
            Ok(out) => out,
            // Labels of a valid name always append; never taken.
            Err(_) => return name.trim_to(num_labels),
        };
    }
    out
}

/// The parent of `name` (the root's is the root), as hickory's
/// `Name::base_name`: see [`trim_to`].
pub(crate) fn parent(name: &Name) -> Name {
    trim_to(name, name.iter().len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use std::str::FromStr;

    use super::*;

    fn n(s: &str) -> Name {
        Name::from_str(s).unwrap()
    }

    /// The same names as hickory's `trim_to` and `base_name`, case and
    /// FQDN flag included.
    #[test]
    fn trim_to_and_parent_match_hickory() {
        let names = [
            n("."),
            n("lab."),
            n("M7.Wild.example.LAB."),
            n("*.wild.example.lab."),
            Name::from_str("relative.example").unwrap(),
            n(&format!("{}.x.", "a".repeat(63))),
        ];
        for name in &names {
            let same = |a: &Name, b: &Name| {
                assert_eq!(a, b);
                assert_eq!(a.to_string(), b.to_string());
                assert_eq!(a.is_fqdn(), b.is_fqdn());
                assert_eq!(a.iter().len(), b.iter().len());
            };
            same(&parent(name), &name.base_name());
            for k in 0..6 {
                same(&trim_to(name, k), &name.trim_to(k));
            }
        }
    }

    #[test]
    fn rfc4034_example_order() {
        // RFC 4034 §6.1 lists these in canonical order.
        let names = [
            n("example."),
            n("a.example."),
            n("yljkjljk.a.example."),
            n("Z.a.example."),
            n("zABC.a.EXAMPLE."),
            n("z.example."),
            Name::from_labels(vec![&b"\x01"[..], b"z", b"example"]).unwrap(),
            n("*.z.example."),
            Name::from_labels(vec![&b"\xc8"[..], b"z", b"example"]).unwrap(),
        ];
        for w in names.windows(2) {
            assert_eq!(
                canonical_cmp(&w[0], &w[1]),
                Ordering::Less,
                "{} < {}",
                w[0],
                w[1]
            );
            assert_eq!(canonical_cmp(&w[1], &w[0]), Ordering::Greater);
            // hickory agrees.
            assert_eq!(w[0].cmp(&w[1]), Ordering::Less);
        }
        assert_eq!(
            canonical_cmp(&n("A.Example."), &n("a.example.")),
            Ordering::Equal
        );
    }

    #[test]
    fn covering_and_wrap() {
        let (a, c, z) = (n("a.example."), n("c.example."), n("example."));
        assert!(covers(&a, &c, &n("b.example.")));
        assert!(covers(&a, &c, &n("x.a.example.")));
        assert!(!covers(&a, &c, &a));
        assert!(!covers(&a, &c, &c));
        assert!(!covers(&a, &c, &n("d.example.")));
        // Last NSEC: next is the apex.
        assert!(covers(&c, &z, &n("d.example.")));
        assert!(!covers(&c, &z, &n("b.example.")));
    }

    #[test]
    fn relations() {
        let q = n("a.b.c.example.");
        assert_eq!(common_ancestor(&q, &n("x.c.example.")), n("c.example."));
        assert_eq!(next_closer(&q, &n("example.")), Some(n("c.example.")));
        assert_eq!(next_closer(&q, &q), None);
        assert_eq!(wildcard_of(&n("example.")), Some(n("*.example.")));
        assert!(is_proper_ancestor(&n("EXAMPLE."), &q));
        assert!(!is_proper_ancestor(&q, &q));
        assert_eq!(label_count(&n("*.example.")), 2);
    }
}
