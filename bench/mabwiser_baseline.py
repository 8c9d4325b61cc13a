"""Baseline for the bandit microbenchmark: one Thompson-sampling decision plus one posterior
update in MABWiser (a well-known Python bandit library), timed on this machine in this run."""
import random
import sys
import time

from mabwiser.mab import MAB, LearningPolicy

arms = int(sys.argv[1]) if len(sys.argv) > 1 else 2
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
names = list(range(arms))
rates = [0.05 + 0.01 * a for a in names]
rng = random.Random(7)

mab = MAB(names, LearningPolicy.ThompsonSampling(), seed=7)
mab.fit(decisions=names, rewards=[0] * arms)
start = time.perf_counter()
for _ in range(rounds):
    arm = mab.predict()
    mab.partial_fit([arm], [1 if rng.random() < rates[arm] else 0])
elapsed = time.perf_counter() - start
print(f"MABWISER arms={arms} us_per_decision_and_update={elapsed / rounds * 1e6:.2f}")
