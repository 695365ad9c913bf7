//! Tests of `validate_answer` against responses signed in-process.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use hickory_proto::dnssec::rdata::{DNSKEY, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, PublicKeyBuf};
use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{RData, SerialNumber};

use super::*;
use crate::dnssec::testutil::*;
use crate::limits;

use RecordType::{A, CNAME, DS, MX, NS, SOA};

const Z: &str = "example.lab.";

fn check(
    z: &Zone,
    keys: &KeyMap,
    rcode: ResponseCode,
    ans: &[Record],
    auth: &[Record],
    q: &str,
    qt: RecordType,
) -> Verdict {
    validate_answer(
        rcode,
        ans,
        auth,
        &n(q),
        qt,
        &z.name,
        keys,
        NOW,
        &mut Budget::new(),
    )
}

fn run(
    z: &Zone,
    rcode: ResponseCode,
    ans: &[Record],
    auth: &[Record],
    q: &str,
    qt: RecordType,
) -> Verdict {
    check(z, &z.keymap(), rcode, ans, auth, q, qt)
}

fn bogus(v: &Verdict) -> &BogusReason {
    match &v.security {
        Security::Bogus(r) => r,
        other => panic!("expected Bogus, got {other:?}"),
    }
}

const OK: ResponseCode = ResponseCode::NoError;
const NX: ResponseCode = ResponseCode::NXDomain;

#[test]
fn signed_a_is_secure_p256_and_ed25519() {
    for z in [Zone::p256(Z), Zone::ed25519(Z)] {
        let ans = z.sign(vec![a("www.example.lab.", 1), a("www.example.lab.", 2)]);
        let v = run(&z, OK, &ans, &[], "WWW.Example.lab.", A);
        assert_eq!(v.kind, AnswerKind::Positive);
        assert_eq!(
            v.security,
            Security::Secure,
            "{:?}",
            z.zsk.signing.algorithm()
        );
        assert_eq!(v.ttl_cap, Some(300));
    }
}

#[test]
fn ttl_cap_is_time_to_expiration() {
    let z = Zone::p256(Z);
    let ans = z.sign_with(
        vec![a("www.example.lab.", 1)],
        &z.zsk,
        Times::at(NOW - DAY, NOW + 100),
    );
    let v = run(&z, OK, &ans, &[], "www.example.lab.", A);
    assert_eq!((v.security, v.ttl_cap), (Security::Secure, Some(100)));
}

#[test]
fn tampered_rdata_is_bogus_6() {
    let z = Zone::p256(Z);
    let mut ans = z.sign(vec![a("www.example.lab.", 1)]);
    ans[0] = a("www.example.lab.", 66);
    let v = run(&z, OK, &ans, &[], "www.example.lab.", A);
    let r = bogus(&v);
    assert_eq!(r.kind, BogusKind::Bogus);
    assert_eq!(r.key_tag, Some(z.zsk.tag()));
    assert_eq!(r.ede().code, EdeCode::DnssecBogus);
    assert_eq!(v.ttl_cap, None);
}

#[test]
fn expired_and_not_yet_valid() {
    let z = Zone::p256(Z);
    let ans = z.sign_with(vec![a("www.example.lab.", 1)], &z.zsk, Times::expired());
    assert_eq!(
        bogus(&run(&z, OK, &ans, &[], "www.example.lab.", A)).kind,
        BogusKind::SignatureExpired
    );
    let ans = z.sign_with(vec![a("www.example.lab.", 1)], &z.zsk, Times::future());
    let v = run(&z, OK, &ans, &[], "www.example.lab.", A);
    assert_eq!(bogus(&v).kind, BogusKind::SignatureNotYetValid);
    assert_eq!(bogus(&v).ede().code, EdeCode::SignatureNotYetValid);
}

#[test]
fn unknown_key_tag_is_dnskey_missing_with_tag() {
    let z = Zone::p256(Z);
    let unpublished = Key::new(Algorithm::ECDSAP256SHA256, false);
    let ans = z.sign_with(
        vec![a("host1.example.lab.", 1)],
        &unpublished,
        Times::good(),
    );
    let v = run(&z, OK, &ans, &[], "host1.example.lab.", A);
    let r = bogus(&v);
    assert_eq!(r.kind, BogusKind::DnskeyMissing);
    assert_eq!(r.key_tag, Some(unpublished.tag()));
    let want = format!(
        "no DNSKEY with tag {} for A host1.example.lab.",
        unpublished.tag()
    );
    assert!(r.detail.contains(&want), "{}", r.detail);
    assert_eq!(r.ede().code, EdeCode::DnskeyMissing);
}

#[test]
fn unsigned_rrset_in_secure_zone_is_rrsigs_missing() {
    let z = Zone::p256(Z);
    let v = run(
        &z,
        OK,
        &[a("www.example.lab.", 1)],
        &[],
        "www.example.lab.",
        A,
    );
    assert_eq!(bogus(&v).kind, BogusKind::RrsigsMissing);
}

#[test]
fn zone_state_passes_through() {
    let z = Zone::p256(Z);
    let note = Some(Ede::new(EdeCode::UnsupportedDnskeyAlgorithm, "alg 5"));
    let mut keys = KeyMap::new();
    keys.insert(z.name.clone(), KeyEntry::Insecure { note: note.clone() });
    let v = check(
        &z,
        &keys,
        OK,
        &[a("www.example.lab.", 1)],
        &[],
        "www.example.lab.",
        A,
    );
    assert_eq!(v.security, Security::Insecure { note });
    assert_eq!(v.ttl_cap, None);
    let v = check(
        &z,
        &KeyMap::new(),
        OK,
        &[a("www.example.lab.", 1)],
        &[],
        "www.example.lab.",
        A,
    );
    assert!(matches!(v.security, Security::Indeterminate(_)));
}

#[test]
fn out_of_zone_and_unfetched_signers() {
    let z = Zone::p256(Z);
    let other = Zone::p256("other.");
    let mut keys = z.keymap();
    keys.insert(other.name.clone(), other.entry());
    let ans = other.sign(vec![a("www.example.lab.", 1)]);
    let v = check(&z, &keys, OK, &ans, &[], "www.example.lab.", A);
    assert!(bogus(&v).detail.contains("out-of-zone signer"), "{v:?}");
    // A child zone's signature with no keys fetched for the child.
    let child = Zone::p256("sub.example.lab.");
    let ans = child.sign(vec![a("www.sub.example.lab.", 1)]);
    let v = run(&z, OK, &ans, &[], "www.sub.example.lab.", A);
    assert_eq!(bogus(&v).kind, BogusKind::DnskeyMissing);
    // ... and with them.
    keys.insert(child.name.clone(), child.entry());
    let v = check(&z, &keys, OK, &ans, &[], "www.sub.example.lab.", A);
    assert_eq!(v.security, Security::Secure);
    assert_eq!(signer_names(&ans, &[]), vec![n("sub.example.lab.")]);
}

#[test]
fn malformed_rrsigs_never_validate() {
    let z = Zone::p256(Z);
    let recs = vec![a("www.example.lab.", 1)];
    // Labels field larger than the owner's label count.
    let sig = z.rrsig(&recs, &z.zsk, Times::good(), None);
    let RData::DNSSEC(DNSSECRData::RRSIG(rd)) = &sig.data else {
        panic!()
    };
    let mut input = rd.input().clone();
    input.num_labels = 9;
    let rd = RRSIG::from_sig(input, rd.sig().to_vec());
    let sig = Record::from_rdata(sig.name.clone(), 300, RData::DNSSEC(DNSSECRData::RRSIG(rd)));
    let v = run(&z, OK, &[recs[0].clone(), sig], &[], "www.example.lab.", A);
    assert_eq!(bogus(&v).kind, BogusKind::Bogus);
    // Unsupported algorithm (RSASHA1) with an empty signature.
    let input = SigInput {
        type_covered: A,
        algorithm: Algorithm::from_u8(5),
        num_labels: 3,
        original_ttl: 300,
        sig_expiration: SerialNumber::new((NOW + DAY) as u32),
        sig_inception: SerialNumber::new((NOW - DAY) as u32),
        key_tag: 1,
        signer_name: z.name.clone(),
    };
    let sig = Record::from_rdata(
        n("www.example.lab."),
        300,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, Vec::new()))),
    );
    let v = run(&z, OK, &[recs[0].clone(), sig], &[], "www.example.lab.", A);
    assert_eq!(bogus(&v).kind, BogusKind::RrsigsMissing);
}

/// KeyTrap (CVE-2023-50387): 50 keys sharing one tag and 50 RRSIGs.
#[test]
fn keytrap_stops_at_the_budget() {
    let z = Zone::p256(Z);
    let target: u16 = 4242;
    let mut keys = Vec::new();
    for i in 0..50u8 {
        let mut bytes = vec![i; 64];
        bytes[0] = 4;
        'search: for hi in 0..=255u8 {
            for lo in 0..=255u8 {
                bytes[62] = hi;
                bytes[63] = lo;
                let k = DNSKEY::with_flags(
                    256,
                    PublicKeyBuf::new(bytes.clone(), Algorithm::ECDSAP256SHA256),
                );
                if k.calculate_key_tag().unwrap() == target {
                    keys.push(k);
                    break 'search;
                }
            }
        }
    }
    assert_eq!(keys.len(), 50);
    let mut map = KeyMap::new();
    map.insert(z.name.clone(), KeyEntry::Secure(keys));
    let mut ans = vec![a("www.example.lab.", 1)];
    for i in 0..50u8 {
        let input = SigInput {
            type_covered: A,
            algorithm: Algorithm::ECDSAP256SHA256,
            num_labels: 3,
            original_ttl: 300,
            sig_expiration: SerialNumber::new((NOW + DAY) as u32),
            sig_inception: SerialNumber::new((NOW - DAY) as u32),
            key_tag: target,
            signer_name: z.name.clone(),
        };
        let rd = RRSIG::from_sig(input, vec![i; 64]);
        ans.push(Record::from_rdata(
            n("www.example.lab."),
            300,
            RData::DNSSEC(DNSSECRData::RRSIG(rd)),
        ));
    }
    let mut budget = Budget::new();
    let v = validate_answer(
        OK,
        &ans,
        &[],
        &n("www.example.lab."),
        A,
        &z.name,
        &map,
        NOW,
        &mut budget,
    );
    let r = bogus(&v);
    assert_eq!(r.kind, BogusKind::Bogus);
    assert!(
        r.detail.contains("MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE"),
        "{}",
        r.detail
    );
    assert_eq!(
        budget.exhausted().map(limits::Limit::as_str),
        Some("MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE")
    );
    assert!(!budget.take_signature(), "every verification was spent");
    let _ = limits::MAX_SIGNATURE_VALIDATIONS_PER_RESPONSE;
}

#[test]
fn cname_and_dname() {
    let z = Zone::p256(Z);
    let ans = z.sign(vec![cname("alias.example.lab.", "www.example.lab.")]);
    let v = run(&z, NX, &ans, &[], "alias.example.lab.", A);
    assert_eq!((v.kind, v.security), (AnswerKind::Cname, Security::Secure));
    // DNAME d.example.lab. -> other.lab.; CNAME x.d.example.lab. -> x.other.lab. unsigned.
    let mut target = Vec::new();
    let mut enc = hickory_proto::serialize::binary::BinEncoder::new(&mut target);
    hickory_proto::serialize::binary::BinEncodable::emit(&n("other.lab."), &mut enc).unwrap();
    let dname = Record::from_rdata(
        n("d.example.lab."),
        300,
        RData::Unknown {
            code: RecordType::DNAME,
            rdata: NULL::with(target),
        },
    );
    let mut ans = z.sign(vec![dname]);
    ans.push(cname("x.d.example.lab.", "x.other.lab."));
    let v = run(&z, OK, &ans, &[], "x.d.example.lab.", A);
    assert_eq!((v.kind, v.security), (AnswerKind::Cname, Security::Secure));
    let last = ans.len() - 1;
    ans[last] = cname("x.d.example.lab.", "evil.lab.");
    assert_eq!(
        bogus(&run(&z, OK, &ans, &[], "x.d.example.lab.", A)).kind,
        BogusKind::Bogus
    );
}

#[test]
fn wildcard_answer_needs_next_closer_proof() {
    for nsec3 in [false, true] {
        let z = Zone::p256(Z);
        let recs = vec![a("www.example.lab.", 1)];
        let sig = z.rrsig(&recs, &z.zsk, Times::good(), Some(2));
        let ans = vec![recs[0].clone(), sig];
        let proof = if nsec3 {
            nsec3_cover(&z, "www.example.lab.", false, 0)
        } else {
            nsec("a.example.lab.", "z.example.lab.", &[A])
        };
        let auth = sign_all(&z, vec![proof]);
        let v = run(&z, OK, &ans, &auth, "www.example.lab.", A);
        assert_eq!(v.security, Security::Secure, "nsec3={nsec3}");
        let v = run(&z, OK, &ans, &[], "www.example.lab.", A);
        assert_eq!(bogus(&v).kind, BogusKind::NsecMissing, "nsec3={nsec3}");
    }
}

fn nsec_zone_chain() -> Vec<Record> {
    vec![
        soa(Z),
        nsec("example.lab.", "a.example.lab.", &[SOA, NS]),
        nsec("a.example.lab.", "sub.example.lab.", &[A]),
        nsec("sub.example.lab.", "example.lab.", &[NS]),
    ]
}

#[test]
fn nsec_nxdomain() {
    let z = Zone::p256(Z);
    let auth = sign_all(&z, nsec_zone_chain());
    let v = run(&z, NX, &[], &auth, "b.example.lab.", A);
    assert_eq!(
        (v.kind, v.security.clone()),
        (AnswerKind::NxDomain, Security::Secure)
    );
    assert!(v.ttl_cap.is_some());
    // Without the NSEC denying the wildcard (*.example.lab. < a.example.lab.).
    let auth = sign_all(
        &z,
        nsec_zone_chain()
            .into_iter()
            .filter(|r| r.name != n(Z) || r.record_type() == SOA)
            .collect(),
    );
    assert_eq!(
        bogus(&run(&z, NX, &[], &auth, "b.example.lab.", A)).kind,
        BogusKind::NsecMissing
    );
    // No NSEC at all.
    let auth = sign_all(&z, vec![soa(Z)]);
    let v = run(&z, NX, &[], &auth, "b.example.lab.", A);
    assert_eq!(bogus(&v).kind, BogusKind::NsecMissing);
    assert_eq!(bogus(&v).ede().code, EdeCode::NsecMissing);
    // Names under the delegation are not denied by the parent's NSEC.
    let auth = sign_all(&z, nsec_zone_chain());
    assert_eq!(
        bogus(&run(&z, NX, &[], &auth, "x.sub.example.lab.", A)).kind,
        BogusKind::NsecMissing
    );
    // A proof whose signature expired reports the expiry.
    let mut auth = sign_all(&z, vec![soa(Z)]);
    for r in &nsec_zone_chain()[1..] {
        auth.extend(z.sign_with(vec![r.clone()], &z.zsk, Times::expired()));
    }
    assert_eq!(
        bogus(&run(&z, NX, &[], &auth, "b.example.lab.", A)).kind,
        BogusKind::SignatureExpired
    );
    // Unsigned NSEC records in a secure zone.
    let mut auth = sign_all(&z, vec![soa(Z)]);
    auth.extend(nsec_zone_chain().into_iter().skip(1));
    assert_eq!(
        bogus(&run(&z, NX, &[], &auth, "b.example.lab.", A)).kind,
        BogusKind::RrsigsMissing
    );
}

#[test]
fn nsec_nodata_and_insecure_delegation() {
    let z = Zone::p256(Z);
    let auth = sign_all(&z, nsec_zone_chain());
    let v = run(&z, OK, &[], &auth, "a.example.lab.", MX);
    assert_eq!((v.kind, v.security), (AnswerKind::NoData, Security::Secure));
    assert_eq!(
        bogus(&run(&z, OK, &[], &auth, "a.example.lab.", A)).kind,
        BogusKind::NsecMissing
    );
    // DS at the delegation: NS without DS proves an insecure delegation.
    let v = run(&z, OK, &[], &auth, "sub.example.lab.", DS);
    assert_eq!((v.kind, v.security), (AnswerKind::NoData, Security::Secure));
    // The parent-side NSEC cannot deny other types at the cut.
    assert_eq!(
        bogus(&run(&z, OK, &[], &auth, "sub.example.lab.", A)).kind,
        BogusKind::NsecMissing
    );
    // Wildcard NODATA.
    let chain = vec![
        soa(Z),
        nsec("example.lab.", "*.w.example.lab.", &[SOA, NS]),
        nsec("*.w.example.lab.", "example.lab.", &[A]),
    ];
    let auth = sign_all(&z, chain);
    let v = run(&z, OK, &[], &auth, "q.w.example.lab.", MX);
    assert_eq!(v.security, Security::Secure);
    assert_eq!(
        bogus(&run(&z, OK, &[], &auth, "q.w.example.lab.", A)).kind,
        BogusKind::NsecMissing
    );
    // CNAME in the bitmap: no NODATA.
    let auth = sign_all(
        &z,
        vec![soa(Z), nsec("c.example.lab.", "example.lab.", &[CNAME])],
    );
    assert_eq!(
        bogus(&run(&z, OK, &[], &auth, "c.example.lab.", A)).kind,
        BogusKind::NsecMissing
    );
}

#[test]
fn nsec3_nxdomain_nodata_opt_out_iterations() {
    let z = Zone::p256(Z);
    let it = 0;
    let base = vec![
        soa(Z),
        nsec3_match(&z, Z, &[SOA, NS], it),
        nsec3_cover(&z, "nope.example.lab.", false, it),
        nsec3_cover(&z, "*.example.lab.", false, it),
    ];
    let auth = sign_all(&z, base.clone());
    let v = run(&z, NX, &[], &auth, "nope.example.lab.", A);
    assert_eq!(
        (v.kind, v.security),
        (AnswerKind::NxDomain, Security::Secure)
    );
    // Missing wildcard cover.
    let auth = sign_all(&z, base[..3].to_vec());
    assert_eq!(
        bogus(&run(&z, NX, &[], &auth, "nope.example.lab.", A)).kind,
        BogusKind::NsecMissing
    );
    // NODATA: matching NSEC3 without the type.
    let auth = sign_all(
        &z,
        vec![soa(Z), nsec3_match(&z, "www.example.lab.", &[A], it)],
    );
    assert_eq!(
        run(&z, OK, &[], &auth, "www.example.lab.", MX).security,
        Security::Secure
    );
    assert_eq!(
        bogus(&run(&z, OK, &[], &auth, "www.example.lab.", A)).kind,
        BogusKind::NsecMissing
    );
    // DS under opt-out: insecure delegation.
    let auth = sign_all(
        &z,
        vec![
            soa(Z),
            nsec3_match(&z, Z, &[SOA, NS], it),
            nsec3_cover(&z, "unsigned.example.lab.", true, it),
        ],
    );
    let v = run(&z, OK, &[], &auth, "unsigned.example.lab.", DS);
    assert_eq!(v.security, Security::INSECURE);
    // Without opt-out the same proof is not enough for DS.
    let auth = sign_all(
        &z,
        vec![
            soa(Z),
            nsec3_match(&z, Z, &[SOA, NS], it),
            nsec3_cover(&z, "unsigned.example.lab.", false, it),
        ],
    );
    assert_eq!(
        bogus(&run(&z, OK, &[], &auth, "unsigned.example.lab.", DS)).kind,
        BogusKind::NsecMissing
    );
    // Iterations over the limit: insecure with EDE 27, after the signatures verified.
    let many = limits::NSEC3_MAX_ITERATIONS + 1;
    let auth = sign_all(
        &z,
        vec![soa(Z), nsec3_cover(&z, "nope.example.lab.", false, many)],
    );
    let v = run(&z, NX, &[], &auth, "nope.example.lab.", A);
    let Security::Insecure { note: Some(ede) } = v.security else {
        panic!("expected insecure, got {:?}", v.security)
    };
    assert_eq!(ede.code, EdeCode::UnsupportedNsec3Iterations);
    // An unsigned high-iteration NSEC3 cannot downgrade the answer.
    let mut auth = sign_all(&z, vec![soa(Z)]);
    auth.push(nsec3_cover(&z, "nope.example.lab.", false, many));
    assert_eq!(
        bogus(&run(&z, NX, &[], &auth, "nope.example.lab.", A)).kind,
        BogusKind::RrsigsMissing
    );
}

#[test]
fn garbage_never_panics() {
    let z = Zone::p256(Z);
    let mut ans = z.sign(vec![a("www.example.lab.", 1)]);
    ans.push(Record::from_rdata(
        n("www.example.lab."),
        0,
        RData::NULL(NULL::new()),
    ));
    let bad_nsec3_owner = Record::from_rdata(
        n("xyz.example.lab."),
        0,
        z.nsec3(&[1], &[2], 0, false, &[]).data.clone(),
    );
    let auth = sign_all(
        &z,
        vec![bad_nsec3_owner, nsec("zzz.example.lab.", "a.", &[])],
    );
    for rc in [OK, NX, ResponseCode::ServFail] {
        for qt in [A, DS, CNAME, MX, RecordType::ANY] {
            for q in [
                ".",
                "www.example.lab.",
                "*.example.lab.",
                "a.b.c.d.e.f.example.lab.",
            ] {
                let _ = run(&z, rc, &ans, &auth, q, qt);
                let _ = run(&z, rc, &[], &[], q, qt);
            }
        }
    }
}
