#!/usr/bin/python3
"""Writes tests/data/optimizer_reference.txt: PyTorch's torch.optim trajectories
that tests/optimizer_test.cc compares the C++ optimisers against.

Run once with Debian 12's python3-torch (1.13) and commit the output:
    /usr/bin/python3 scripts/gen_optimizer_reference.py

Every case starts from the same float32 parameters and applies the same five
float32 gradients (set on p.grad by hand, no autograd), with the learning rate
given for each step. Hyper-parameters are the decimals a user writes (0.9,
not float32(0.9)): the proto stores them as float, and the optimisers train
with the double nearest the float's shortest decimal (HyperParameter in
core/training_defaults.h), which is that decimal.

Format (whitespace separated, '#' starts a comment line):
    params <v...>                 initial parameters
    grad <step> <v...>            gradient applied at step 1..5
    case <name> <kind> [key=value ...]
                                  kind: sgd adagrad rmsprop adam adamw; keys are
                                  OptimizerSpec fields (learning_rate,
                                  weight_decay) or fields of the kind's message;
                                  an absent key means "unset" (the default)
    lr <step> <value>             learning rate passed to step <step>
    expect <step> <v...>          parameters after step <step>
    end
"""
import math
import os
import sys

import numpy as np
import torch

STEPS = 5
INITIAL = [0.5, -1.25, 2.0, -0.75, 0.1, 3.0]


def f32(x):
    return float(np.float32(x))


def grads():
    # Mixed signs and magnitudes, plus an exact zero (exercises eps).
    out = []
    for k in range(STEPS):
        g = [math.sin(1.0 + 0.7 * i + 1.3 * k) * (1.0 + 0.5 * i) for i in range(len(INITIAL))]
        g[4] = 0.0 if k % 2 == 0 else g[4]
        out.append([f32(v) for v in g])
    return out


def cosine_warmup_lrs(base, warmup, t_max, eta_min):
    lrs = []
    for s in range(STEPS):
        if s < warmup:
            lrs.append(base * (s + 1) / warmup)
        else:
            t = min(s - warmup, t_max)
            lrs.append(eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / t_max)) / 2)
    return lrs


def step_decay_lrs(base, step_size, gamma):
    return [base * gamma ** (s // step_size) for s in range(STEPS)]


# name, kind, keys (as a user writes them), per-step lrs or None (= base lr).
CASES = [
    ("sgd_plain", "sgd", {"learning_rate": 0.1}, None),
    ("sgd_momentum", "sgd", {"learning_rate": 0.1, "momentum": 0.9}, None),
    ("sgd_nesterov", "sgd",
     {"learning_rate": 0.1, "momentum": 0.9, "nesterov": 1}, None),
    ("sgd_dampening", "sgd",
     {"learning_rate": 0.1, "momentum": 0.9, "dampening": 0.5}, None),
    ("sgd_weight_decay", "sgd",
     {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.05}, None),
    ("sgd_plain_weight_decay", "sgd", {"learning_rate": 0.05, "weight_decay": 0.2}, None),
    ("adagrad", "adagrad", {"learning_rate": 0.1}, None),
    ("adagrad_options", "adagrad",
     {"learning_rate": 0.05, "weight_decay": 0.1, "epsilon": 1e-3,
      "initial_accumulator_value": 0.1}, None),
    ("rmsprop_plain", "rmsprop", {}, None),
    ("rmsprop_momentum", "rmsprop",
     {"learning_rate": 0.01, "alpha": 0.9, "momentum": 0.9, "epsilon": 0.05},
     None),
    ("rmsprop_centered", "rmsprop",
     {"learning_rate": 0.01, "centered": 1, "epsilon": 1e-6}, None),
    ("rmsprop_centered_momentum", "rmsprop",
     {"learning_rate": 0.02, "centered": 1, "momentum": 0.5, "weight_decay": 0.01},
     None),
    ("adam", "adam", {}, None),
    ("adam_options", "adam",
     {"learning_rate": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6},
     None),
    # A large epsilon makes its placement (after the bias-corrected sqrt)
    # visible at float precision; 1e-8 next to gradients of ~1 is not.
    ("adam_large_eps", "adam",
     {"learning_rate": 0.01, "beta2": 0.9, "epsilon": 0.1}, None),
    ("adam_weight_decay", "adam", {"learning_rate": 0.01, "weight_decay": 0.1}, None),
    ("adamw", "adamw", {"learning_rate": 0.01}, None),
    ("adamw_weight_decay", "adamw",
     {"learning_rate": 0.05, "weight_decay": 0.5, "beta1": 0.85}, None),
    # Learning rate changing every step, as the trainer feeds it from a
    # schedule (the test checks LearningRateAt gives these values).
    ("adam_cosine_warmup", "adam", {"learning_rate": 0.01},
     cosine_warmup_lrs(0.01, warmup=2, t_max=3, eta_min=0.001)),
    ("sgd_momentum_step_decay", "sgd", {"learning_rate": 0.1, "momentum": 0.9},
     step_decay_lrs(0.1, step_size=2, gamma=0.5)),
]

DEFAULT_LR = {"sgd": None, "adagrad": 0.01, "rmsprop": 0.01, "adam": 1e-3, "adamw": 1e-3}


def make_optimizer(kind, keys, params):
    lr = keys.get("learning_rate", DEFAULT_LR[kind])
    wd = keys.get("weight_decay")
    common = dict(lr=lr, foreach=False, maximize=False)
    if wd is not None:
        common["weight_decay"] = wd
    if kind == "sgd":
        return torch.optim.SGD(params, momentum=keys.get("momentum", 0.0),
                               dampening=keys.get("dampening", 0.0),
                               nesterov=bool(keys.get("nesterov", 0)), **common)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr_decay=0,
                                   eps=keys.get("epsilon", 1e-10),
                                   initial_accumulator_value=keys.get(
                                       "initial_accumulator_value", 0.0), **common)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, alpha=keys.get("alpha", 0.99),
                                   eps=keys.get("epsilon", 1e-8),
                                   momentum=keys.get("momentum", 0.0),
                                   centered=bool(keys.get("centered", 0)), **common)
    betas = (keys.get("beta1", 0.9), keys.get("beta2", 0.999))
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    return cls(params, betas=betas, eps=keys.get("epsilon", 1e-8), amsgrad=False, **common)


def fmt(values):
    return " ".join("%.9g" % v for v in values)


def main():
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                            "optimizer_reference.txt")
    gs = grads()
    lines = ["# Generated by scripts/gen_optimizer_reference.py with torch %s; do not edit."
             % torch.__version__,
             "params " + fmt(INITIAL)]
    for k, g in enumerate(gs, start=1):
        lines.append("grad %d %s" % (k, fmt(g)))
    for name, kind, keys, lrs in CASES:
        p = torch.tensor(INITIAL, dtype=torch.float32, requires_grad=True)
        opt = make_optimizer(kind, keys, [p])
        base = opt.param_groups[0]["lr"]
        key_text = " ".join("%s=%r" % (k, v) for k, v in keys.items())
        lines.append(("case %s %s %s" % (name, kind, key_text)).rstrip())
        expects = []
        for k in range(STEPS):
            lr = base if lrs is None else lrs[k]
            opt.param_groups[0]["lr"] = lr
            p.grad = torch.tensor(gs[k], dtype=torch.float32)
            opt.step()
            lines.append("lr %d %r" % (k + 1, lr))
            expects.append("expect %d %s" % (k + 1, fmt(p.detach().numpy().tolist())))
        lines.extend(expects)
        lines.append("end")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote", os.path.normpath(out_path), file=sys.stderr)


if __name__ == "__main__":
    main()
