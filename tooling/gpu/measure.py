"""Run one command and record its wall time, peak RSS and the GPU's peak memory use while it ran.

Runs on the GPU machine, never in CI:
    python tooling/gpu/measure.py STAGE OUT.jsonl -- COMMAND [ARGS...]
Appends {"stage", "command", "exit", "seconds", "peak_rss_mib", "peak_gpu_mib", "gpu_baseline_mib"} to
OUT.jsonl and prints it on stderr (stdout stays the command's own: its --json output). Peak RSS is the
child's own (getrusage of the waited-for children: the largest resident set among them); GPU memory is
nvidia-smi's device-wide "memory.used", sampled every 200 ms, minus what was in use before the command
started.
"""
import json
import resource
import subprocess
import sys
import threading
import time


def gpu_used_mib():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=5).stdout
        return max(int(x) for x in out.split())
    except Exception:  # noqa: BLE001 - no GPU: the figure is left out
        return None


def main():
    stage, out = sys.argv[1], sys.argv[2]
    cmd = sys.argv[sys.argv.index("--") + 1:]
    baseline = gpu_used_mib()
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.wait(0.2):
            v = gpu_used_mib()
            if v is not None and (peak[0] is None or v > peak[0]):
                peak[0] = v

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.time()
    code = subprocess.call(cmd)
    seconds = time.time() - t0
    done.set()
    t.join()
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rec = {"stage": stage, "command": " ".join(cmd), "exit": code, "seconds": round(seconds, 1),
           "peak_rss_mib": round(rss), "peak_gpu_mib": None if peak[0] is None or baseline is None else peak[0] - baseline,
           "gpu_baseline_mib": baseline}
    print(json.dumps(rec), file=sys.stderr, flush=True)
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    sys.exit(code)


if __name__ == "__main__":
    main()
