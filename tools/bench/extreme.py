"""A train step of iResNet-404 and -1001 (224x224, batch 1, ``with_cp``),
each in a fresh process: time, peak resident memory, parameters."""
import json
import subprocess
import sys

CODE = '''
import json, resource, sys, time, torch
from mm_iresnet.models import IResNet
torch.manual_seed(0)
model = IResNet(depth={depth}, with_cp=True, norm_eval=False).train()
opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
x = torch.randn(1, 3, 224, 224)
start = time.perf_counter()
loss = sum(o.mean() for o in model(x))
loss.backward()
opt.step()
took = time.perf_counter() - start
finite = bool(torch.isfinite(loss))
print(json.dumps(dict(seconds=took, finite=finite,
      params=sum(p.numel() for p in model.parameters()),
      peak_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)))
'''


def extreme_rows(args, rows):
    for depth in (404, 1001):
        out = subprocess.run([sys.executable, '-c',
                              CODE.format(depth=depth)],
                             capture_output=True,
                             text=True,
                             check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        rows.add(
            case=f'iResNet-{depth} (with_cp) @224 b1',
            metric='train step s / peak RSS GiB / params M',
            iresnet=f"{r['seconds']:.1f} / {r['peak_gib']:.1f} / "
            f"{r['params'] / 1e6:.0f}",
            resnet='-',
            ratio='finite' if r['finite'] else 'NOT finite')
