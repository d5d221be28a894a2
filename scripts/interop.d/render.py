"""Renders the reference's `--local-all` configs for one generation (scripts/interop).

Usage: render.py GEN REFDIR OUTDIR. Uses the values the reference's `scripts/cocoon-launch
--local-all` uses (run_local_all / Config.get_runtime_vars), except a worker coefficient of
1000, and the reference's own `cocoon-subst`; `@DISK@` is left for the caller to fill in.
"""
import os, shutil, subprocess, sys, tempfile
gen, ref, out = sys.argv[1], sys.argv[2], sys.argv[3]
subst = os.path.join(ref, 'build/tee/cocoon-subst')
apr = os.path.isdir(os.path.join(ref, 'spec/spec-key-manager'))
hash_var = 'TEE_IMAGE_HASH' if apr else 'TDX_IMAGE_HASH'
# the values scripts/cocoon-launch --local-all uses (run_local_all / Config.get_runtime_vars)
roles = [('proxy', 'ProxyProxyProxyProxyProxyProxyProxyProxyPro=', 'ml+7xELuOQtfp9q9mSWtHiSWx5aSBV6p3xCfwPmHOwY='),
         ('worker', 'WorkerWorkerWorkerWorkerWorkerWorkerWorkerU=', 'jYYD/HjU0K2D/xpistoFM4BruJhY3koI1xuO00xd7PI='),
         ('client', 'ClientClientClientClientClientClientClientC=', 'gaEatwGNgLGOeFI/TRGfPdJG/K4G8picYHQkDHpLQ9w=')]
if apr:
    roles.append(('key-manager', 'KeyManagerKeyManagerKeyManagerKeyManagerKe0=', '4DV6iMUS16P6Y/6MlF6qfnxii7q2UWXUwSi4bgvcaf8='))
os.makedirs(out, exist_ok=True)
fake_vars = open(os.path.join(ref, 'spec/fake-ton/runtime.vars')).read().splitlines()
with tempfile.TemporaryDirectory() as tmp:
    for role, image_hash, key in roles:
        spec = os.path.join(tmp, role)
        shutil.copytree(os.path.join(ref, 'spec', 'spec-' + role), spec)
        shutil.copy(os.path.join(ref, 'spec/fake-ton/fake-ton-config.json'), spec)
        v = {'MODEL_NAME': 'Qwen/Qwen3-8B', 'OWNER_ADDRESS': 'UQAuz15H1ZHrZ_psVrAra7HealMIVeFq0wguqlmFno1f3B-m',
             'ROOT_CONTRACT_ADDRESS': 'EQBT4hy4vMEZ9uxSCuhw_gBKh9_AwmHXLe7Wo0O4Vh-4kRjJ',
             'EXTERNAL_IP': '127.0.0.1', 'EXTERNAL_WORKER_PORT': '11001', 'EXTERNAL_CLIENT_PORT': '11002',
             'EXTERNAL_KEY_MANAGER_PORT': '13001', 'WORKER_COEFFICIENT': '1000', 'NODE_WALLET_KEY': key,
             hash_var: image_hash, 'TON_CONFIG_FILE': '/tmp/run/global.config.json', 'APP_KEY': key,
             'DISK_PATH': '@DISK@', 'MODEL_COMMIT': 'abc123def456', 'MODEL_VERITY_HASH': '0' * 64, 'IS_DEBUG': '1',
             'CLIENT_HTTP_PORT': '10000', 'CLIENT_RPC_PORT': '10001'}
        lines = [l for l in fake_vars if '=' in l and l.split('=', 1)[0] not in v]
        lines += ['%s=%s' % kv for kv in v.items()]
        os.makedirs(os.path.join(spec, 'runtime'), exist_ok=True)
        open(os.path.join(spec, 'runtime/runtime.vars'), 'w').write('\n'.join(lines) + '\n')
        for f in sorted(os.listdir(spec)):
            if f.endswith('.json') and f != 'global.config.json':
                target = os.path.join(out, f)
                if os.path.exists(target):
                    os.chmod(target, 0o644); os.unlink(target)
                subprocess.run([subst, os.path.join(spec, f), os.path.join(spec, 'runtime/runtime.vars'), target],
                               check=True, stdout=subprocess.DEVNULL)
                os.chmod(target, 0o644)
