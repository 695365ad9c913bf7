//! Authenticating a zone's DNSKEY RRset from its parent's DS set or from
//! trust anchors (RFC 4035 §5.2, RFC 6840 §5.2, RFC 4509 §3, RFC 5011).

use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS};
use hickory_proto::dnssec::{DigestType, PublicKey, Verifier};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::verify::{Budget, rrsets, verify_rrset};
use super::{BogusKind, BogusReason, KeyEntry};
use crate::ede::{Ede, EdeCode};
use crate::limits;

/// DS digest types we can compute (RFC 8624 §3.3: SHA-1 and SHA-256 MUST,
/// SHA-384 MAY; GOST and SM3 are not supported).
fn supported_digest(d: DigestType) -> bool {
    matches!(
        d,
        DigestType::SHA1 | DigestType::SHA256 | DigestType::SHA384
    )
}

/// Authenticate a zone's DNSKEY RRset (the answer section of a DNSKEY
/// response, including its RRSIGs) with either a validated DS set from the
/// parent or trust anchors (DS and/or DNSKEY anchors for this zone).
///
/// Returns `Secure(zone keys)` on success; `Insecure` with EDE 1/2 if no
/// DS/anchor has a supported algorithm and digest (RFC 4035 §5.2, RFC 6840
/// §5.2); `Bogus(DnskeyMissing)` if no DNSKEY matches any DS;
/// `Bogus(NoZoneKeyBitSet)` if only keys without the zone bit match; and
/// the precise Bogus kind if the matching key's signature over the set
/// fails.
pub fn validate_dnskeys(
    zone: &Name,
    answers: &[Record],
    ds: &[DS],
    anchor_keys: &[DNSKEY],
    now: u64,
    budget: &mut Budget,
) -> KeyEntry {
    let zone = zone.to_lowercase();
    let sets = rrsets(answers);
    let Some(set) = sets
        .iter()
        .find(|s| s.name == zone && s.rtype == RecordType::DNSKEY)
    else {
        return bogus(
            BogusKind::DnskeyMissing,
            &zone,
            ds.first().map(DS::key_tag),
            "no DNSKEY RRset in the answer",
        );
    };
    let dnskeys: Vec<&DNSKEY> = set
        .data()
        .filter_map(|d| match d {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k),
            _ => None,
        })
        .collect();

    let mut usable_ds: Vec<&DS> = ds
        .iter()
        .filter(|d| budget.supports(d.algorithm()) && supported_digest(d.digest_type()))
        .collect();
    // RFC 4509 §3: ignore SHA-1 digests when a stronger one is present
    // (so a forged SHA-1 DS cannot stand in for the real one).
    if usable_ds
        .iter()
        .any(|d| d.digest_type() != DigestType::SHA1)
    {
        usable_ds.retain(|d| d.digest_type() != DigestType::SHA1);
    }
    let usable_anchors: Vec<&DNSKEY> = anchor_keys
        .iter()
        .filter(|k| k.zone_key() && !k.revoke() && budget.supports(k.algorithm()))
        .collect();
    if usable_ds.is_empty() && usable_anchors.is_empty() {
        return unsupported(&zone, ds, anchor_keys, budget);
    }

    let tagged: Vec<(u16, &DNSKEY)> = dnskeys
        .iter()
        .filter_map(|k| k.calculate_key_tag().ok().map(|t| (t, *k)))
        .collect();
    let mut trusted: Vec<DNSKEY> = Vec::new();
    let mut no_zone_bit = false;
    for d in &usable_ds {
        let candidates: Vec<&DNSKEY> = tagged
            .iter()
            .filter(|(t, k)| *t == d.key_tag() && k.algorithm() == d.algorithm() && !k.revoke())
            .map(|(_, k)| *k)
            .collect();
        if candidates.len() > limits::MAX_KEYS_PER_KEY_TAG {
            budget.note_keys_per_tag();
        }
        for k in candidates.into_iter().take(limits::MAX_KEYS_PER_KEY_TAG) {
            let digest_ok = k
                .to_digest(&zone, d.digest_type())
                .is_ok_and(|h| h.as_ref() == d.digest());
            if !digest_ok {
                continue;
            }
            if !k.zone_key() {
                no_zone_bit = true;
            } else if !trusted.contains(k) {
                trusted.push(k.clone());
            }
        }
    }
    for a in &usable_anchors {
        // A DNSKEY anchor vouches for itself, whether or not the zone still
        // publishes it (RFC 4035 §5: the anchor is the trusted key).
        if !trusted.iter().any(|t| same_key(t, a)) {
            trusted.push((*a).clone());
        }
    }
    if trusted.is_empty() {
        let tags: Vec<String> = usable_ds.iter().map(|d| d.key_tag().to_string()).collect();
        let tag = usable_ds.first().map(|d| d.key_tag());
        return if no_zone_bit {
            bogus(
                BogusKind::NoZoneKeyBitSet,
                &zone,
                tag,
                "the DNSKEY matching the DS lacks the Zone Key bit",
            )
        } else {
            bogus(
                BogusKind::DnskeyMissing,
                &zone,
                tag,
                format!("no DNSKEY matches DS key tag {}", tags.join(", ")),
            )
        };
    }
    match verify_rrset(set, &zone, &trusted, now, budget) {
        Ok(_) => KeyEntry::Secure(
            dnskeys
                .into_iter()
                .filter(|k| k.zone_key() && !k.revoke())
                .cloned()
                .collect(),
        ),
        Err(reason) => KeyEntry::Bogus(reason),
    }
}

fn same_key(a: &DNSKEY, b: &DNSKEY) -> bool {
    a.algorithm() == b.algorithm() && a.public_key().public_bytes() == b.public_key().public_bytes()
}

fn bogus(
    kind: BogusKind,
    zone: &Name,
    key_tag: Option<u16>,
    detail: impl Into<String>,
) -> KeyEntry {
    KeyEntry::Bogus(BogusReason::new(kind, zone, key_tag, detail))
}

/// No DS or anchor we can use: Insecure with the reason as EDE 1 (every
/// algorithm unsupported) or EDE 2 (supported algorithm, but only
/// unsupported digests). With neither DS nor anchor, nothing vouches for
/// the zone: Bogus.
fn unsupported(zone: &Name, ds: &[DS], anchor_keys: &[DNSKEY], budget: &Budget) -> KeyEntry {
    let valid_anchors = anchor_keys
        .iter()
        .filter(|k| k.zone_key() && !k.revoke())
        .count();
    if ds.is_empty() && valid_anchors == 0 {
        return bogus(
            BogusKind::DnskeyMissing,
            zone,
            None,
            "no DS or trust anchor for the DNSKEY set",
        );
    }
    let alg_ok_digest_not = ds.iter().any(|d| budget.supports(d.algorithm()));
    let note = if alg_ok_digest_not {
        let digests: Vec<String> = ds
            .iter()
            .map(|d| u8::from(d.digest_type()).to_string())
            .collect();
        Ede::new(
            EdeCode::UnsupportedDsDigestType,
            format!(
                "{zone}: DS digest types {} not supported",
                digests.join(", ")
            ),
        )
    } else {
        let algs: Vec<String> = ds
            .iter()
            .map(|d| u8::from(d.algorithm()).to_string())
            .chain(
                anchor_keys
                    .iter()
                    .map(|k| u8::from(k.algorithm()).to_string()),
            )
            .collect();
        Ede::new(
            EdeCode::UnsupportedDnskeyAlgorithm,
            format!(
                "{zone}: DNSSEC algorithms {} not supported",
                algs.join(", ")
            ),
        )
    };
    KeyEntry::Insecure { note: Some(note) }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]

    use hickory_proto::dnssec::Algorithm;

    use super::*;
    use crate::dnssec::testutil::*;

    fn run(z: &Zone, answers: &[Record], ds: &[DS], anchors: &[DNSKEY]) -> KeyEntry {
        validate_dnskeys(&z.name, answers, ds, anchors, NOW, &mut Budget::new())
    }

    fn bogus_kind(e: &KeyEntry) -> (BogusKind, Option<u16>) {
        match e {
            KeyEntry::Bogus(r) => (r.kind, r.key_tag),
            other => panic!("expected Bogus, got {other:?}"),
        }
    }

    fn ds_with(z: &Zone, digest_type: DigestType) -> DS {
        let d = z.ksk.dnskey.to_digest(&z.name, digest_type).unwrap();
        DS::new(
            z.ksk.tag(),
            z.ksk.dnskey.algorithm(),
            digest_type,
            d.as_ref().to_vec(),
        )
    }

    #[test]
    fn dnskeys_via_ds_p256_and_ed25519() {
        for z in [Zone::p256("example.lab."), Zone::ed25519("example.lab.")] {
            let e = run(&z, &z.dnskey_answer(), &[z.ds()], &[]);
            assert_eq!(e, z.entry());
            // SHA-1 and SHA-384 digests work too.
            for dt in [DigestType::SHA1, DigestType::SHA384] {
                assert_eq!(
                    run(&z, &z.dnskey_answer(), &[ds_with(&z, dt)], &[]),
                    z.entry()
                );
            }
        }
    }

    #[test]
    fn dnskeys_via_anchor_key() {
        let z = Zone::p256("lab.");
        assert_eq!(
            run(
                &z,
                &z.dnskey_answer(),
                &[],
                std::slice::from_ref(&z.ksk.dnskey)
            ),
            z.entry()
        );
        let stranger = Key::new(Algorithm::ECDSAP256SHA256, true);
        let (kind, _) = bogus_kind(&run(
            &z,
            &z.dnskey_answer(),
            &[],
            std::slice::from_ref(&stranger.dnskey),
        ));
        assert_eq!(kind, BogusKind::DnskeyMissing);
    }

    #[test]
    fn mismatching_ds_is_dnskey_missing() {
        // The KSK rolled without a DS update: the DS names the old key.
        let z = Zone::p256("example.lab.");
        let old = Zone::p256("example.lab.");
        assert_eq!(
            bogus_kind(&run(&z, &z.dnskey_answer(), &[old.ds()], &[])),
            (BogusKind::DnskeyMissing, Some(old.ksk.tag()))
        );
        // A DS that matches the tag but not the digest.
        let mut wrong = z.ds().digest().to_vec();
        wrong[0] ^= 1;
        let ds = DS::new(
            z.ksk.tag(),
            z.ksk.dnskey.algorithm(),
            DigestType::SHA256,
            wrong,
        );
        assert_eq!(
            bogus_kind(&run(&z, &z.dnskey_answer(), &[ds], &[])).0,
            BogusKind::DnskeyMissing
        );
    }

    #[test]
    fn sha1_ds_ignored_next_to_sha256() {
        let z = Zone::p256("example.lab.");
        let other = Zone::p256("example.lab.");
        let e = run(
            &z,
            &z.dnskey_answer(),
            &[ds_with(&z, DigestType::SHA1), other.ds()],
            &[],
        );
        assert_eq!(bogus_kind(&e).0, BogusKind::DnskeyMissing);
    }

    #[test]
    fn unsupported_digest_or_algorithm_is_insecure() {
        let z = Zone::p256("example.lab.");
        let gost = DS::new(
            z.ksk.tag(),
            z.ksk.dnskey.algorithm(),
            DigestType::from(3),
            vec![1; 32],
        );
        let KeyEntry::Insecure { note: Some(ede) } = run(&z, &z.dnskey_answer(), &[gost], &[])
        else {
            panic!("expected insecure")
        };
        assert_eq!(ede.code, EdeCode::UnsupportedDsDigestType);
        let rsasha1 = DS::new(1, Algorithm::from_u8(5), DigestType::SHA256, vec![1; 32]);
        let KeyEntry::Insecure { note: Some(ede) } = run(&z, &z.dnskey_answer(), &[rsasha1], &[])
        else {
            panic!("expected insecure")
        };
        assert_eq!(ede.code, EdeCode::UnsupportedDnskeyAlgorithm);
        // Nothing at all vouches for the zone: not insecure.
        assert_eq!(
            bogus_kind(&run(&z, &z.dnskey_answer(), &[], &[])).0,
            BogusKind::DnskeyMissing
        );
    }

    #[test]
    fn unknown_algorithm_ds_alone_is_insecure() {
        let z = Zone::p256("example.lab.");
        for alg in [200, 3, 253] {
            let ds = DS::new(
                z.ksk.tag(),
                Algorithm::from_u8(alg),
                DigestType::SHA256,
                vec![7; 32],
            );
            let KeyEntry::Insecure { note: Some(ede) } = run(&z, &z.dnskey_answer(), &[ds], &[])
            else {
                panic!("algorithm {alg}: expected insecure")
            };
            assert_eq!(ede.code, EdeCode::UnsupportedDnskeyAlgorithm);
        }
    }

    #[test]
    fn unknown_algorithm_ds_beside_a_known_one_is_secure() {
        let z = Zone::p256("example.lab.");
        let unknown = DS::new(
            4242,
            Algorithm::from_u8(200),
            DigestType::SHA256,
            vec![7; 32],
        );
        for ds in [[unknown.clone(), z.ds()], [z.ds(), unknown.clone()]] {
            assert!(matches!(
                run(&z, &z.dnskey_answer(), &ds, &[]),
                KeyEntry::Secure(_)
            ));
        }
        // The known DS still has to match: an unknown one is no way out.
        let other = Zone::p256("example.lab.");
        let e = run(&z, &z.dnskey_answer(), &[unknown, other.ds()], &[]);
        assert_eq!(bogus_kind(&e).0, BogusKind::DnskeyMissing);
    }

    #[test]
    #[allow(deprecated)]
    fn anchor_dnskeys_with_no_supported_algorithm_are_insecure() {
        let z = Zone::rsa("example.lab.", Algorithm::RSASHA1, 512);
        let KeyEntry::Insecure { note: Some(ede) } = run(
            &z,
            &z.dnskey_answer(),
            &[],
            std::slice::from_ref(&z.ksk.dnskey),
        ) else {
            panic!("expected insecure")
        };
        assert_eq!(ede.code, EdeCode::UnsupportedDnskeyAlgorithm);
    }

    #[test]
    #[allow(deprecated)]
    fn rsasha1_zones_insecure_by_default_secure_with_validate() {
        use crate::dnssec::AlgorithmPolicy;
        // 512 bits: below ring's minimum (the `rsa` crate path); 1024: ring.
        for (alg, bits) in [
            (Algorithm::RSASHA1, 512),
            (Algorithm::RSASHA1NSEC3SHA1, 1024),
        ] {
            let z = Zone::rsa("example.lab.", alg, bits);
            let ds = [z.ds()];
            let e = run(&z, &z.dnskey_answer(), &ds, &[]);
            let KeyEntry::Insecure { note: Some(ede) } = e else {
                panic!("{alg} {bits}: expected insecure by default, got {e:?}")
            };
            assert_eq!(ede.code, EdeCode::UnsupportedDnskeyAlgorithm);
            let mut budget = Budget::new().with_policy(AlgorithmPolicy { sha1: true });
            let e = validate_dnskeys(&z.name, &z.dnskey_answer(), &ds, &[], NOW, &mut budget);
            assert!(matches!(e, KeyEntry::Secure(_)), "{alg} {bits}: {e:?}");
            // A tampered signature still fails on both paths.
            let mut answer = z.dnskey_answer();
            if let Some(RData::DNSSEC(DNSSECRData::RRSIG(sig))) =
                answer.last_mut().map(|r| &mut r.data)
            {
                let mut bytes = sig.sig().to_vec();
                bytes[10] ^= 1;
                *sig = hickory_proto::dnssec::rdata::RRSIG::from_sig(sig.input().clone(), bytes);
            }
            let mut budget = Budget::new().with_policy(AlgorithmPolicy { sha1: true });
            let e = validate_dnskeys(&z.name, &answer, &ds, &[], NOW, &mut budget);
            assert_eq!(bogus_kind(&e).0, BogusKind::Bogus, "{alg} {bits}");
        }
    }

    #[test]
    fn small_rsasha256_keys_validate() {
        let z = Zone::rsa("example.lab.", Algorithm::RSASHA256, 768);
        assert!(matches!(
            run(&z, &z.dnskey_answer(), &[z.ds()], &[]),
            KeyEntry::Secure(_)
        ));
    }

    #[test]
    fn ksk_signature_failures_are_precise() {
        let z = Zone::p256("example.lab.");
        let keys: Vec<Record> = z
            .dnskey_answer()
            .into_iter()
            .filter(|r| r.record_type() == RecordType::DNSKEY)
            .collect();
        let expired = z.sign_with(keys.clone(), &z.ksk, Times::expired());
        assert_eq!(
            bogus_kind(&run(&z, &expired, &[z.ds()], &[])).0,
            BogusKind::SignatureExpired
        );
        let future = z.sign_with(keys.clone(), &z.ksk, Times::future());
        assert_eq!(
            bogus_kind(&run(&z, &future, &[z.ds()], &[])).0,
            BogusKind::SignatureNotYetValid
        );
        // Signed only by the ZSK, which the DS does not vouch for.
        let by_zsk = z.sign_with(keys.clone(), &z.zsk, Times::good());
        assert_eq!(
            bogus_kind(&run(&z, &by_zsk, &[z.ds()], &[])),
            (BogusKind::DnskeyMissing, Some(z.zsk.tag()))
        );
        // A key slipped into the signed set.
        let mut tampered = z.dnskey_answer();
        let extra = Key::new(Algorithm::ECDSAP256SHA256, false);
        tampered.insert(
            0,
            Record::from_rdata(
                z.name.clone(),
                3600,
                RData::DNSSEC(DNSSECRData::DNSKEY(extra.dnskey)),
            ),
        );
        assert_eq!(
            bogus_kind(&run(&z, &tampered, &[z.ds()], &[])).0,
            BogusKind::Bogus
        );
        // Unsigned set.
        assert_eq!(
            bogus_kind(&run(&z, &keys, &[z.ds()], &[])).0,
            BogusKind::RrsigsMissing
        );
        // No DNSKEY at all.
        assert_eq!(
            bogus_kind(&run(&z, &[], &[z.ds()], &[])).0,
            BogusKind::DnskeyMissing
        );
    }

    #[test]
    fn ds_matching_a_non_zone_key() {
        let z = Zone::p256("example.lab.");
        let pk = z.ksk.dnskey.public_key().clone();
        let not_zone = DNSKEY::with_flags(1, pk);
        let rec = Record::from_rdata(
            z.name.clone(),
            3600,
            RData::DNSSEC(DNSSECRData::DNSKEY(not_zone.clone())),
        );
        let d = not_zone.to_digest(&z.name, DigestType::SHA256).unwrap();
        let ds = DS::new(
            not_zone.calculate_key_tag().unwrap(),
            not_zone.algorithm(),
            DigestType::SHA256,
            d.as_ref().to_vec(),
        );
        let answers = z.sign_with(vec![rec], &z.ksk, Times::good());
        assert_eq!(
            bogus_kind(&run(&z, &answers, &[ds], &[])).0,
            BogusKind::NoZoneKeyBitSet
        );
    }
}
