#!/usr/bin/env python3
"""Split each miss's latency by phase from a loopback pcap: client query in ->
upstream query out (resolver, before) -> upstream answer in (lab + kernel) ->
client answer out (resolver, after). Usage: split.py PCAP RESOLVER_PORT LAB_PORT"""
import struct, sys
from collections import defaultdict

def qname(b, off):
    labels = []
    while off < len(b):
        l = b[off]
        if l == 0: break
        if l & 0xc0: break
        labels.append(b[off+1:off+1+l].decode('ascii', 'replace').lower()); off += 1 + l
    return '.'.join(labels)

path, rport, lport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, 'rb').read()
magic = struct.unpack('<I', data[:4])[0]
nano = magic == 0xa1b23c4d
link = struct.unpack('<I', data[20:24])[0]
off = 24
ev = defaultdict(dict)
while off + 16 <= len(data):
    ts, tf, incl, orig = struct.unpack('<IIII', data[off:off+16]); off += 16
    pkt = data[off:off+incl]; off += incl
    t = ts + tf / (1e9 if nano else 1e6)
    p = pkt[14:] if link == 1 else pkt[16:] if link == 113 else pkt[4:]
    if len(p) < 28 or p[0] >> 4 != 4: continue
    ihl = (p[0] & 15) * 4
    if p[9] != 17: continue
    sp, dp = struct.unpack('>HH', p[ihl:ihl+4])
    dns = p[ihl+8:]
    if len(dns) < 13: continue
    flags = dns[2]; qr = flags >> 7
    name = qname(dns, 12)
    if not name.startswith('t'): continue
    if dp == rport and not qr: k = 'cq'
    elif sp == rport and qr: k = 'ca'
    elif dp == lport and not qr: k = 'uq'
    elif sp == lport and qr: k = 'ua'
    else: continue
    ev[name].setdefault(k, t)
rows = []
for n, e in ev.items():
    if all(k in e for k in ('cq', 'uq', 'ua', 'ca')):
        rows.append((e['cq'], (e['ca']-e['cq'])*1e3, (e['uq']-e['cq'])*1e3, (e['ua']-e['uq'])*1e3, (e['ca']-e['ua'])*1e3))
rows.sort()
def pct(v, p):
    v = sorted(v); return v[min(len(v)-1, int(p*len(v)))]
print(f"misses with all four packets: {len(rows)}")
for i, lab in enumerate(['total', 'before upstream', 'upstream (lab)', 'after upstream'], 1):
    v = [r[i] for r in rows]
    print(f"{lab:16s} p50 {pct(v,.5):7.3f}  p99 {pct(v,.99):7.3f}  p99.9 {pct(v,.999):7.3f}  max {max(v):8.3f} ms  >5ms {sum(x>5 for x in v)}")
# Of the slow ones (total > 5 ms), which phase holds most of the time?
slow = [r for r in rows if r[1] > 5]
share = defaultdict(float)
for r in slow:
    for i, lab in enumerate(['before', 'lab', 'after'], 2): share[lab] += r[i]
tot = sum(share.values()) or 1
print("time of answers >5 ms by phase: " + ', '.join(f"{k} {v/tot*100:.0f}%" for k, v in share.items()))
if rows:
    t0 = rows[0][0]
    per = defaultdict(int)
    for r in slow: per[int(r[0]-t0)] += 1
    print("answers >5 ms per second: " + ' '.join(f"{k}:{per[k]}" for k in sorted(per)))
