#!/usr/bin/env python3
"""Refreshes the seed corpus kept in the repo, fuzz/corpus/TARGET, from a run's corpus (fuzz/out/corpus/TARGET).

libFuzzer's -merge=1 (with a control file recording each input's features) picks the inputs that add coverage;
of those, the N that cover the most features are chosen greedily (set cover), so the kept corpus stays a few
dozen files. Reproducers of findings (files named finding_*) are always kept.
    fuzz/keep_corpus.py TARGET [N=40]      (FUZZ_BINARY=path: another build of the target)
"""
import hashlib, os, shutil, subprocess, sys, tempfile

target = sys.argv[1]
budget = int(sys.argv[2]) if len(sys.argv) > 2 else 40
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = os.environ.get('FUZZ_BINARY') or os.path.join(root, 'fuzz/out/build/fuzz', target)
kept = os.path.join(root, 'fuzz/corpus', target)
found = os.path.join(root, 'fuzz/out/corpus', target)

with tempfile.TemporaryDirectory() as tmp:
    merged, control = os.path.join(tmp, 'merged'), os.path.join(tmp, 'control')
    os.mkdir(merged)
    dirs = [d for d in (kept, found) if os.path.isdir(d)]
    subprocess.run([binary, '-merge=1', f'-merge_control_file={control}', merged] + dirs, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # The control file: the input count, the inputs' paths, then per input "STARTED i size" and "FT i f...".
    lines = open(control).read().splitlines()
    n = int(lines[0])
    paths = lines[2:2 + n]
    features = {}
    for line in lines[2 + n:]:
        parts = line.split()
        if parts and parts[0] == 'FT':
            features[int(parts[1])] = set(parts[2:])
    chosen, covered = [], set()
    candidates = dict(features)
    while candidates and len(chosen) < budget:
        best = max(candidates, key=lambda i: (len(candidates[i] - covered), -os.path.getsize(paths[i])))
        if not candidates[best] - covered:
            break
        chosen.append(best)
        covered |= candidates.pop(best)
    total = set().union(*features.values()) if features else set()
    findings = [os.path.join(kept, f) for f in os.listdir(kept) if f.startswith('finding_')] if os.path.isdir(kept) else []
    keep = {os.path.basename(p): open(p, 'rb').read() for p in findings}
    for i in chosen:
        data = open(paths[i], 'rb').read()
        keep.setdefault(hashlib.sha1(data).hexdigest()[:16], data)
    if os.path.isdir(kept):
        shutil.rmtree(kept)
    os.makedirs(kept)
    for name, data in keep.items():
        with open(os.path.join(kept, name), 'wb') as f:
            f.write(data)
    print(f'{target}: {len(keep)} files kept, {len(covered)} of {len(total)} features of the merged corpus '
          f'({len(paths)} inputs read)')
