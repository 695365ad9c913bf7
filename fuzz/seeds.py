#!/usr/bin/env python3
"""Write small seed corpora for the fuzz targets into fuzz/corpus/<target>/.

Messages are built by hand (no DNS library needed); text seeds come from
zones/, docker/ and crates/resolver/src/resolve/named.root. Usage: python3 fuzz/seeds.py
"""
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "fuzz", "corpus")

A, NS, CNAME, SOA, MX, TXT, AAAA, OPT, DS, RRSIG, NSEC, DNSKEY, NSEC3 = (
    1, 2, 5, 6, 15, 16, 28, 41, 43, 46, 47, 48, 50)


def name(n):
    out = b""
    for label in n.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(owner, rtype, rdata, ttl=300, cls=1):
    return name(owner) + struct.pack(">HHIH", rtype, cls, ttl, len(rdata)) + rdata


def soa(zone):
    return rr(zone, SOA, name("ns." + zone) + name("admin." + zone)
              + struct.pack(">IIIII", 1, 3600, 600, 86400, 60))


def opt(payload=1232, do=True, version=0, options=b""):
    flags = 0x8000 if do else 0
    return b"\0" + struct.pack(">HHBBHH", OPT, payload, 0, version, flags, len(options)) + options


def bitmap(types):
    window = {}
    for t in types:
        window.setdefault(t >> 8, set()).add(t & 0xff)
    out = b""
    for w, bits in sorted(window.items()):
        length = max(bits) // 8 + 1
        b = bytearray(length)
        for bit in bits:
            b[bit // 8] |= 0x80 >> (bit % 8)
        out += bytes([w, length]) + bytes(b)
    return out


def nsec(owner, nxt, types):
    return rr(owner, NSEC, name(nxt) + bitmap(types + [RRSIG, NSEC]), 60)


def nsec3(owner_label, zone, next_hash, types, iterations=0, salt=b"\xab\xcd", flags=0):
    rdata = struct.pack(">BBH", 1, flags, iterations) + bytes([len(salt)]) + salt
    rdata += bytes([len(next_hash)]) + next_hash + bitmap(types + [RRSIG])
    return rr(owner_label + "." + zone, NSEC3, rdata, 60)


def rrsig(owner, covered, signer, labels, sig=b"\x01" * 64):
    rdata = struct.pack(">HBBIIIH", covered, 15, labels, 300, 1750600000, 1749900000, 12345)
    return rr(owner, RRSIG, rdata + name(signer) + sig)


def dnskey(flags, key=b"\x02" * 32):
    return struct.pack(">HBB", flags, 3, 15) + key


def msg(id_, flags, question, an=(), ns=(), ar=()):
    qd = [] if question is None else [question]
    head = struct.pack(">HHHHHH", id_, flags, len(qd), len(an), len(ns), len(ar))
    body = b"".join(name(q) + struct.pack(">HH", t, 1) for q, t in qd)
    return head + body + b"".join(an) + b"".join(ns) + b"".join(ar)


def write(target, label, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + label), "wb") as f:
        f.write(data)


def client_query():
    q = ("www.example.lab.", A)
    write("client_query", "plain", msg(1, 0x0100, q))
    write("client_query", "edns-do", msg(2, 0x0110, q, ar=[opt()]) + b"\x05\x20")
    write("client_query", "edns-small", msg(3, 0x0100, ("example.lab.", TXT), ar=[opt(512)]) + b"\xff\x3f")
    write("client_query", "edns-ede-option", msg(4, 0x0100, q, ar=[opt(4096, options=b"\x00\x0f\x00\x02\x00\x03")]))
    write("client_query", "badvers", msg(5, 0x0100, q, ar=[opt(version=1)]))
    write("client_query", "notimp", msg(6, 0x2800, q))
    write("client_query", "two-questions", msg(7, 0x0100, q)[:4] + b"\x00\x02" + msg(7, 0x0100, q)[6:])
    write("client_query", "axfr", msg(8, 0x0000, ("example.lab.", 252)))
    write("client_query", "chaos", msg(9, 0x0100, ("example.lab.", A))[:-2] + b"\x00\x03")
    write("client_query", "response", msg(10, 0x8100, q))
    write("client_query", "with-answer", msg(11, 0x0100, q, an=[rr("www.example.lab.", A, b"\x7f\0\0\1")]))


def responses():
    """(name, selector byte for upstream_response, mode byte for validator, message)."""
    z = "example.lab."
    q = ("www.example.lab.", A)
    out = []
    out.append(("answer", 0x80, 0x08, msg(0x1234, 0x8400, q,
        an=[rr("www.example.lab.", A, b"\xc0\0\2\1"), rrsig("www.example.lab.", A, z, 3)])))
    out.append(("referral", 0x01, 0x00, msg(0x1234, 0x8000, q,
        ns=[rr(z, NS, name("ns1.example.lab.")), rr(z, NS, name("ns.other.lab.")),
            rr(z, DS, struct.pack(">HBB", 12345, 15, 2) + b"\x11" * 32)],
        ar=[rr("ns1.example.lab.", A, b"\x7f\0\0\x35"), rr("ns1.example.lab.", AAAA, b"\0" * 15 + b"\1"),
            opt()])))
    out.append(("root-referral", 0x02, 0x00, msg(0x1234, 0x8000, q,
        ns=[rr("lab.", NS, name("ns.lab."))], ar=[rr("ns.lab.", A, b"\x7f\0\0\x02")])))
    out.append(("nxdomain-nsec", 0x80, 0x09, msg(0x1234, 0x8403, ("nx.example.lab.", A),
        ns=[soa(z), nsec(z, "www.example.lab.", [SOA, NS, DNSKEY]),
            nsec("mail.example.lab.", "www.example.lab.", [A])])))
    out.append(("nodata-nsec", 0x80, 0x0b, msg(0x1234, 0x8400, ("example.lab.", MX),
        ns=[soa(z), nsec(z, "www.example.lab.", [SOA, NS, DNSKEY, A])])))
    h = bytes(range(20))
    out.append(("nxdomain-nsec3", 0x80, 0x09, msg(0x1234, 0x8403, ("nx.example.lab.", A),
        ns=[soa(z), nsec3("0123456789abcdefghijklmnopqrstuv", z, h, [A]),
            nsec3("vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv", z, bytes(20), [SOA, NS, DNSKEY], flags=1)])))
    out.append(("nsec3-iterations", 0x80, 0x09, msg(0x1234, 0x8403, ("nx.example.lab.", A),
        ns=[soa(z), nsec3("0123456789abcdefghijklmnopqrstuv", z, h, [A], iterations=500)])))
    out.append(("cname", 0x80, 0x0c, msg(0x1234, 0x8400, ("www.example.lab.", CNAME),
        an=[rr("www.example.lab.", CNAME, name("host.example.lab.")), rr("host.example.lab.", A, b"\1\2\3\4")])))
    out.append(("cname-for-a", 0x80, 0x08, msg(0x1234, 0x8400, q,
        an=[rr("www.example.lab.", CNAME, name("other.lab.")), rrsig("www.example.lab.", CNAME, z, 3)])))
    out.append(("wildcard", 0x85, 0x8d, msg(0x1234, 0x8400, ("x.wild.example.lab.", A),
        an=[rr("x.wild.example.lab.", A, b"\1\2\3\4")],
        ns=[nsec("*.wild.example.lab.", "www.example.lab.", [A])])))
    out.append(("dnskey", 0x85, 0x1e, msg(0x1234, 0x8400, ("example.lab.", DNSKEY),
        an=[rr(z, DNSKEY, dnskey(257)), rr(z, DNSKEY, dnskey(256, b"\3" * 32)),
            rrsig(z, DNSKEY, z, 2)])))
    out.append(("ds", 0x03, 0x00, msg(0x1234, 0x8400, ("example.lab.", DS),
        an=[rr(z, DS, struct.pack(">HBB", 12345, 15, 2) + b"\x11" * 32)])))
    out.append(("servfail", 0x00, 0x00, msg(0x1234, 0x8002, q)))
    return out


def message_targets():
    for label, sel, mode, m in responses():
        write("upstream_response", label, bytes([sel]) + m)
        write("validator", label, bytes([mode]) + m)


def text_targets():
    for f in sorted(os.listdir(os.path.join(ROOT, "zones"))):
        with open(os.path.join(ROOT, "zones", f), "rb") as fh:
            write("zone_file", "zone-" + f, b"\x00" + fh.read())
    for label, path in [("named.root", "crates/resolver/src/resolve/named.root"), ("docker.hints", "docker/root.hints")]:
        p = os.path.join(ROOT, path)
        if os.path.exists(p):
            with open(p, "rb") as fh:
                write("zone_file", "hints-" + label, b"\x02" + fh.read())
    write("zone_file", "anchor-ds", b"\x01. 3600 IN DS 20326 8 2 "
          b"E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n")
    write("zone_file", "anchor-dnskey", b"\x01$ORIGIN lab.\n@ IN DNSKEY 257 3 15 "
          b"l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=\n")
    write("zone_file", "anchor-bind", b"\x01trust-anchors {\n  . initial-ds 20326 8 2 "
          b"\"E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\";\n};\n")
    state = {"version": 1, "ntas": [{"zone": "lab.", "reason": "rollover", "source": "api",
             "added_at_ms": 1749999000000, "expires_at_ms": 1750003600000}],
             "config_spent": [{"zone": "other.lab.", "lifetime_ms": 3600000, "reason": "x"}]}
    write("zone_file", "nta-state", b"\x03" + json.dumps(state, indent=2).encode())
    for f in ["docker/lastgood.toml"]:
        with open(os.path.join(ROOT, f), "rb") as fh:
            write("config", "docker", fh.read())
    write("config", "private", b"""listen = ["127.0.0.1:5353"]
allow = ["10.0.0.0/8", "::1/128"]
cache-size = 1000000
max-stale-ttl = "1d"
serve-stale = true
failure-recheck = "30s"
log-format = "json"

[[nta]]
zone = "lab."
lifetime = "1h"
reason = "rollover"

[[forward-zone]]
name = "corp.internal"
addrs = ["10.0.0.1", "10.0.0.2:5353", "[fd00::1]:53"]

[[stub-zone]]
name = "10.in-addr.arpa"
addrs = ["10.0.0.53"]
validate = false

private-address = ["10.0.0.0/8", "fd00::/8"]
""")


if __name__ == "__main__":
    client_query()
    message_targets()
    text_targets()
    for t in sorted(os.listdir(OUT)):
        print(t, len(os.listdir(os.path.join(OUT, t))), file=sys.stderr)
