"""Reads a run's TensorBoard events with TensorBoard's EventAccumulator and compares them with
metrics.jsonl: same tags, same steps, values equal after rounding to float32."""
import glob
import json
import os
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def main(run_dir):
    files = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    assert len(files) == 1, f"expected one event file, found {files}"
    acc = EventAccumulator(files[0], size_guidance={"scalars": 0})
    acc.Reload()
    scalars = {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}
    checked = 0
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        for line in f:
            row = json.loads(line)
            step = row["step"]
            for key, value in row.items():
                if key in ("step", "time") or not isinstance(value, (int, float)):
                    continue
                got = scalars[key][step]
                assert got == f32(value), f"{key} at step {step}: tensorboard {got}, metrics.jsonl {value}"
                checked += 1
    print(f"ok: {checked} scalars in {len(scalars)} tags read back by TensorBoard {acc.__module__}")


if __name__ == "__main__":
    main(sys.argv[1])
