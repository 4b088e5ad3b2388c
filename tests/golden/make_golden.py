#!/usr/bin/python3
"""Writes the golden values descent's optimizer, schedule and end-to-end tests compare with.

Every value comes from running Debian's python3-torch (1.13) in float64:
  optimizers.json  trajectories of torch.optim optimizers on fixed gradient sequences
  schedules.json   learning rates of torch.optim.lr_scheduler schedules, step by step
  e2e.json         small networks trained with torch: every step's loss and the final weights

Run from the repository root:  /usr/bin/python3 tests/golden/make_golden.py
The tests read the JSON files only; they do not need torch.

Where Debian's torch 1.13 differs from current torch.optim, the script says so and runs
PyTorch's own code with the later change applied, never a re-derived formula:
  * NAdam: 1.13 computes mu_product_next = mu_product * mu * mu_next; current PyTorch
    computes mu_product * mu_next. The 1.13 source is run with that one line replaced.
  * maximize for NAdam and RAdam (added after 1.13) negates the gradient first, so those
    trajectories are 1.13's on the negated gradients.
  * decoupled_weight_decay for NAdam and RAdam (added after 1.13) multiplies the parameters by
    1 - lr * weight_decay before the update, which is then made without weight decay; the
    script does exactly that around 1.13's step.
"""
import importlib
import inspect
import itertools
import json
import math
import os
import sys
import types

import warnings

import torch

# SequentialLR calls scheduler.step(0) at its milestones, which PyTorch warns about.
warnings.filterwarnings("ignore", category=UserWarning)
torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = 25
SIZE = 37  # odd: covers the tails of every SIMD width


def float32_values(generator, shape, scale):
    """Random values exactly representable in float32, as float64."""
    return (torch.randn(shape, generator=generator) * scale).float().double()


def fixed_nadam():
    """torch.optim.NAdam 1.13 with current PyTorch's mu_product_next."""
    import torch.optim.nadam as nadam
    source = inspect.getsource(nadam)
    old = "mu_product_next = mu_product * mu * mu_next"
    if source.count(old) != 1:
        sys.exit("make_golden.py: torch's nadam.py changed; review the NAdam fix")
    module = types.ModuleType("torch.optim._nadam_current")
    module.__package__ = "torch.optim"
    exec(compile(source.replace(old, "mu_product_next = mu_product * mu_next"),
                 "nadam_current.py", "exec"), module.__dict__)
    return module.NAdam


def spec_string(name, options):
    if not options:
        return name
    def text(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ",".join(text(x) for x in v) + "]"
        if isinstance(v, str):
            return v
        return repr(v)
    return name + ":" + ",".join(f"{k}={text(v)}" for k, v in options.items())


def optimizer_cases():
    """(descent spec name, descent options, torch factory, extra) for every flag combination."""
    cases = []
    for momentum, dampening, nesterov, wd, maximize in itertools.product(
            [0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.05], [False, True]):
        if momentum == 0.0 and (dampening != 0.0 or nesterov):
            continue
        if nesterov and dampening != 0.0:
            continue
        o = {"lr": 0.05}
        if momentum:
            o["momentum"] = momentum
        if dampening:
            o["dampening"] = dampening
        if nesterov:
            o["nesterov"] = True
        if wd:
            o["weight_decay"] = wd
        if maximize:
            o["maximize"] = True
        cases.append(("sgd", o, lambda p, o=o: torch.optim.SGD(p, **o), {}))
    # The aliases with their defaults.
    cases.append(("momentum", {"lr": 0.05},
                  lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), {}))
    cases.append(("nesterov", {"lr": 0.05},
                  lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), {}))
    for lr_decay, wd, init, maximize in itertools.product([0.0, 0.1], [0.0, 0.05], [0.0, 0.5],
                                                          [False, True]):
        o = {"lr": 0.1}
        if lr_decay:
            o["lr_decay"] = lr_decay
        if wd:
            o["weight_decay"] = wd
        if init:
            o["initial_accumulator_value"] = init
        if maximize:
            o["maximize"] = True
        cases.append(("adagrad", o, lambda p, o=o: torch.optim.Adagrad(p, **o), {}))
    for centered, momentum, wd, maximize in itertools.product([False, True], [0.0, 0.5],
                                                              [0.0, 0.05], [False, True]):
        o = {"lr": 0.01}
        if centered:
            o["centered"] = True
        if momentum:
            o["momentum"] = momentum
        if wd:
            o["weight_decay"] = wd
        if maximize:
            o["maximize"] = True
        cases.append(("rmsprop", o, lambda p, o=o: torch.optim.RMSprop(p, **o), {}))
    for name, cls, wds in [("adam", torch.optim.Adam, [0.0, 0.05]),
                           ("adamw", torch.optim.AdamW, [None, 0.1])]:
        for amsgrad, wd, maximize in itertools.product([False, True], wds, [False, True]):
            o = {"lr": 0.02, "beta1": 0.85, "beta2": 0.99}
            if amsgrad:
                o["amsgrad"] = True
            if wd is not None and wd != 0.0:
                o["weight_decay"] = wd
            if maximize:
                o["maximize"] = True
            def make(p, o=o, cls=cls):
                kw = {k: v for k, v in o.items() if k not in ("beta1", "beta2")}
                return cls(p, betas=(o["beta1"], o["beta2"]), **kw)
            cases.append((name, o, make, {}))
    # Defaults as well (adam, adamw with weight_decay 0.01).
    cases.append(("adam", {}, lambda p: torch.optim.Adam(p), {}))
    cases.append(("adamw", {}, lambda p: torch.optim.AdamW(p), {}))
    NAdam = fixed_nadam()
    for wd, decoupled, momentum_decay, maximize in itertools.product(
            [0.0, 0.05], [False, True], [4e-3, 0.01], [False, True]):
        if decoupled and not wd:
            continue
        o = {"lr": 0.02}
        if wd:
            o["weight_decay"] = wd
        if decoupled:
            o["decoupled_weight_decay"] = True
        if momentum_decay != 4e-3:
            o["momentum_decay"] = momentum_decay
        if maximize:
            o["maximize"] = True
        def make(p, o=o):
            return NAdam(p, lr=o["lr"], weight_decay=0.0 if o.get("decoupled_weight_decay")
                         else o.get("weight_decay", 0.0), momentum_decay=o.get("momentum_decay", 4e-3))
        cases.append(("nadam", o, make, {"negate": maximize,
                                         "decouple": o.get("weight_decay", 0.0) if decoupled else 0.0}))
    for wd, decoupled, maximize in itertools.product([0.0, 0.05], [False, True], [False, True]):
        if decoupled and not wd:
            continue
        o = {"lr": 0.02}
        if wd:
            o["weight_decay"] = wd
        if decoupled:
            o["decoupled_weight_decay"] = True
        if maximize:
            o["maximize"] = True
        def make(p, o=o):
            return torch.optim.RAdam(p, lr=o["lr"], weight_decay=0.0 if o.get("decoupled_weight_decay")
                                     else o.get("weight_decay", 0.0))
        cases.append(("radam", o, make, {"negate": maximize,
                                         "decouple": o.get("weight_decay", 0.0) if decoupled else 0.0}))
    for wd, maximize in itertools.product([0.0, 0.05], [False, True]):
        o = {"lr": 0.02}
        if wd:
            o["weight_decay"] = wd
        if maximize:
            o["maximize"] = True
        cases.append(("adamax", o, lambda p, o=o: torch.optim.Adamax(p, **o), {}))
        o2 = dict(o)
        o2["lr"] = 1.0
        cases.append(("adadelta", o2, lambda p, o=o2: torch.optim.Adadelta(p, **o), {}))
    cases.append(("adadelta", {"rho": 0.8, "eps": 1e-4}, lambda p: torch.optim.Adadelta(p, rho=0.8, eps=1e-4), {}))
    return cases


def make_optimizers():
    generator = torch.Generator().manual_seed(20261123)
    records = []
    for index, (name, options, factory, extra) in enumerate(optimizer_cases()):
        initial = float32_values(generator, SIZE, 1.0)
        # Gradients of varied size, a few near zero, so eps and the second moments matter.
        grads = [float32_values(generator, SIZE, 0.5 if s % 3 else 2.0) for s in range(STEPS)]
        param = torch.nn.Parameter(initial.clone())
        optimizer = factory([param])
        trajectory = []
        for g in grads:
            decay = extra.get("decouple", 0.0)
            if decay:
                with torch.no_grad():
                    param.mul_(1.0 - optimizer.param_groups[0]["lr"] * decay)
            param.grad = -g.clone() if extra.get("negate") else g.clone()
            optimizer.step()
            trajectory.append(param.detach().tolist())
        records.append({"spec": spec_string(name, options), "initial": initial.tolist(),
                        "grads": [g.tolist() for g in grads], "trajectory": trajectory})
    return records


def schedule_cases():
    S = torch.optim.lr_scheduler
    plain = [
        ("constant", {}, lambda o: S.ConstantLR(o, factor=1.0, total_iters=0)),
        ("step", {"step_size": 7, "gamma": 0.5}, lambda o: S.StepLR(o, step_size=7, gamma=0.5)),
        ("step", {"step_size": 30}, lambda o: S.StepLR(o, step_size=30)),
        ("multistep", {"milestones": [10, 25, 25, 60], "gamma": 0.3},
         lambda o: S.MultiStepLR(o, milestones=[10, 25, 25, 60], gamma=0.3)),
        ("exponential", {"gamma": 0.97}, lambda o: S.ExponentialLR(o, gamma=0.97)),
        ("cosine", {"T_max": 30, "eta_min": 0.001},
         lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=0.001)),
        ("cosine", {"T_max": 17}, lambda o: S.CosineAnnealingLR(o, T_max=17)),
        ("cosine_restarts", {"T_0": 10, "T_mult": 2, "eta_min": 0.01},
         lambda o: S.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2, eta_min=0.01)),
        ("cosine_restarts", {"T_0": 7}, lambda o: S.CosineAnnealingWarmRestarts(o, T_0=7)),
        ("linear", {"start_factor": 0.25, "end_factor": 0.9, "total_iters": 20},
         lambda o: S.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=20)),
        ("linear", {}, lambda o: S.LinearLR(o)),
        ("polynomial", {"total_iters": 50, "power": 2.0},
         lambda o: S.PolynomialLR(o, total_iters=50, power=2.0)),
        ("polynomial", {"total_iters": 80, "power": 0.5},
         lambda o: S.PolynomialLR(o, total_iters=80, power=0.5)),
        ("onecycle", {"max_lr": 0.5, "total_steps": 120},
         lambda o: S.OneCycleLR(o, max_lr=0.5, total_steps=120, cycle_momentum=False)),
        ("onecycle", {"max_lr": 1.0, "total_steps": 150, "pct_start": 0.45, "div_factor": 10.0,
                      "final_div_factor": 100.0},
         lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=150, pct_start=0.45, div_factor=10.0,
                                final_div_factor=100.0, cycle_momentum=False)),
    ]
    cases = [(n, opts, f, 120) for n, opts, f in plain]
    # Every schedule but plateau after a linear warmup.
    for name, opts, factory in plain:
        if name == "onecycle" and opts["total_steps"] == 150:
            continue
        w = {"warmup_iters": 10, "warmup_start_factor": 0.1}
        def chained(o, factory=factory):
            warm = S.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=10)
            main = factory(o)
            return S.SequentialLR(o, [warm, main], milestones=[10])
        cases.append((name, {**opts, **w}, chained, 120 if name != "onecycle" else 120))
    def chained_default(o):
        warm = S.LinearLR(o, start_factor=1.0 / 3, end_factor=1.0, total_iters=5)
        return S.SequentialLR(o, [warm, S.CosineAnnealingLR(o, T_max=40)], milestones=[5])
    cases.append(("cosine", {"T_max": 40, "warmup_iters": 5}, chained_default, 120))
    return cases


def plateau_metrics(count):
    values, v = [], 1.0
    for i in range(count):
        if i < 20:
            v *= 0.93          # improving
        elif i % 9 == 0:
            v *= 0.995         # small improvements now and then
        values.append(v + (0.002 if i % 4 == 1 else 0.0))
    return values


def make_schedules():
    base_lr = 0.1
    records = []
    for name, options, factory, count in schedule_cases():
        p = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([p], lr=base_lr)
        scheduler = factory(optimizer)
        lrs = [optimizer.param_groups[0]["lr"]]
        for _ in range(count):
            optimizer.step()
            scheduler.step()
            lrs.append(optimizer.param_groups[0]["lr"])
        records.append({"spec": spec_string(name, options), "base_lr": base_lr, "lrs": lrs})
    plateau = [
        {"factor": 0.5, "patience": 3, "threshold": 0.01, "cooldown": 2, "min_lr": 1e-4},
        {"mode": "max", "factor": 0.3, "patience": 2, "threshold": 0.001, "threshold_mode": "abs"},
        {},
    ]
    for options in plateau:
        p = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.SGD([p], lr=base_lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, **options)
        metrics = plateau_metrics(120)
        if options.get("mode") == "max":
            metrics = [-m for m in metrics]
        lrs = [optimizer.param_groups[0]["lr"]]
        for m in metrics:
            optimizer.step()
            scheduler.step(m)
            lrs.append(optimizer.param_groups[0]["lr"])
        records.append({"spec": spec_string("plateau", options), "base_lr": base_lr,
                        "metrics": metrics, "lrs": lrs})
    return records


def e2e_cases():
    O = torch.optim
    NAdam = fixed_nadam()
    return [
        ("relu_ce_momentum", [5, 8, 3], "relu", "cross_entropy", "momentum:lr=0.1",
         lambda p: O.SGD(p, lr=0.1, momentum=0.9)),
        ("tanh_mse_adam", [4, 6, 6, 1], "tanh", "mse", "adam:lr=0.01",
         lambda p: O.Adam(p, lr=0.01)),
        ("sigmoid_bce_rmsprop", [6, 5, 1], "sigmoid", "bce_with_logits",
         "rmsprop:lr=0.01,centered=true", lambda p: O.RMSprop(p, lr=0.01, centered=True)),
        ("relu_ce_adamw", [3, 7, 4], "relu", "cross_entropy", "adamw:lr=0.01,amsgrad=true",
         lambda p: O.AdamW(p, lr=0.01, amsgrad=True)),
        ("tanh_ce_nadam", [5, 9, 2], "tanh", "cross_entropy", "nadam:lr=0.01",
         lambda p: NAdam(p, lr=0.01)),
        ("relu_mse_adagrad", [4, 5, 3], "relu", "mse", "adagrad:lr=0.05",
         lambda p: O.Adagrad(p, lr=0.05)),
        ("sigmoid_mse_nesterov", [3, 6, 2], "sigmoid", "mse",
         "nesterov:lr=0.1,weight_decay=0.01",
         lambda p: O.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("identity_ce_radam", [4, 6, 3], "identity", "cross_entropy", "radam:lr=0.01",
         lambda p: O.RAdam(p, lr=0.01)),
    ]


def make_e2e():
    """Networks trained by torch with given weights and a fixed batch order."""
    acts = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid,
            "identity": torch.nn.Identity}
    losses = {"cross_entropy": torch.nn.CrossEntropyLoss(), "mse": torch.nn.MSELoss(),
              "bce_with_logits": torch.nn.BCEWithLogitsLoss()}
    rows, batch, epochs = 37, 8, 3
    records = []
    for index, (name, sizes, act, loss_name, spec, make_optimizer) in enumerate(e2e_cases()):
        torch.manual_seed(1000 + index)
        layers = []
        for i in range(len(sizes) - 1):
            layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
            if i + 2 < len(sizes):
                layers.append(acts[act]())
        model = torch.nn.Sequential(*layers)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.float().double())  # start from float32 values
        x = torch.randn(rows, sizes[0]).float().double()
        outputs = sizes[-1]
        if loss_name == "cross_entropy":
            targets = torch.randint(0, outputs, (rows,))
        elif loss_name == "bce_with_logits":
            targets = torch.randint(0, 2, (rows, 1)).double()
        else:
            targets = torch.randn(rows, outputs).float().double()
        initial = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        optimizer = make_optimizer(model.parameters())
        step_losses = []
        for _ in range(epochs):
            for first in range(0, rows, batch):
                xb, yb = x[first:first + batch], targets[first:first + batch]
                loss = losses[loss_name](model(xb), yb)
                step_losses.append(loss.item())
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        final = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
        record = {"name": name, "sizes": sizes, "activation": act, "loss": loss_name,
                  "optimizer": spec, "batch": batch, "epochs": epochs,
                  "x": x.reshape(-1).tolist(), "initial": initial.tolist(),
                  "losses": step_losses, "final": final.tolist()}
        if loss_name == "cross_entropy":
            record["labels"] = targets.tolist()
        elif loss_name == "bce_with_logits":
            record["labels"] = targets.reshape(-1).long().tolist()
        else:
            record["values"] = targets.reshape(-1).tolist()
        records.append(record)
    return records


def main():
    for name, records in [("optimizers.json", make_optimizers()),
                          ("schedules.json", make_schedules()),
                          ("e2e.json", make_e2e())]:
        with open(os.path.join(HERE, name), "w") as f:
            json.dump({"torch_version": torch.__version__, "cases": records}, f)
        print(f"wrote {name}: {len(records)} cases")


if __name__ == "__main__":
    main()
