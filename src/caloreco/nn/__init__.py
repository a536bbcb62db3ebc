"""Torch networks (:mod:`.nets`) and the generic, deterministic training loop (:mod:`.training`).

Importing this package (before torch) fixes the CPU code paths of the math libraries, so that a
network trained with the same config and seed has the same weights on any x86-64 machine with
AVX2, not only on the machine that trained it: MKL's conditional numerical reproducibility
(``MKL_CBWR=AVX2``: the same kernels whatever the processor; the default picks them by CPU model)
and ATen's vectorised kernels (``ATEN_CPU_CAPABILITY=avx2`` instead of the best the CPU has, e.g.
AVX-512). Together with a fixed thread count (:data:`.training.TORCH_THREADS`) they remove what
differed between two machines of the same kind. Set either variable yourself to override.
"""

import os

os.environ.setdefault("MKL_CBWR", "AVX2")
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
