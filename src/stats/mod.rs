//! PLACEHOLDER until the exact module lands: same API, rough numerics.
pub mod beta {
    use rand_distr::Distribution;
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct BetaPosterior {
        pub alpha: f64,
        pub beta: f64,
    }
    #[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
    pub struct Interval {
        pub mean: f64,
        pub low: f64,
        pub high: f64,
    }
    impl BetaPosterior {
        pub fn from_counts(users: u64, conversions: u64) -> Self {
            Self {
                alpha: 1.0 + conversions as f64,
                beta: 1.0 + (users - conversions.min(users)) as f64,
            }
        }
        pub fn update(&mut self, converted: bool) {
            if converted {
                self.alpha += 1.0
            } else {
                self.beta += 1.0
            }
        }
        pub fn mean(&self) -> f64 {
            self.alpha / (self.alpha + self.beta)
        }
        pub fn interval(&self, _level: f64) -> Interval {
            let m = self.mean();
            let s = (self.alpha * self.beta
                / ((self.alpha + self.beta).powi(2) * (self.alpha + self.beta + 1.0)))
                .sqrt();
            Interval {
                mean: m,
                low: (m - 1.96 * s).max(0.0),
                high: (m + 1.96 * s).min(1.0),
            }
        }
        pub fn sample(&self, rng: &mut impl rand::Rng) -> f64 {
            rand_distr::Beta::new(self.alpha, self.beta)
                .unwrap()
                .sample(rng)
        }
    }
    pub fn prob_best(arms: &[BetaPosterior]) -> Vec<f64> {
        let mut rng = rand::rng();
        let mut wins = vec![0.0; arms.len()];
        let n = 20000;
        for _ in 0..n {
            let mut best = 0;
            let mut bv = -1.0;
            for (i, a) in arms.iter().enumerate() {
                let x = a.sample(&mut rng);
                if x > bv {
                    bv = x;
                    best = i;
                }
            }
            wins[best] += 1.0 / n as f64;
        }
        wins
    }
    pub fn prob_greater(x: &BetaPosterior, y: &BetaPosterior) -> f64 {
        prob_best(&[*y, *x])[1]
    }
}
pub mod thompson {
    use super::beta::BetaPosterior;
    use rand::RngExt;
    pub fn sample_arm_beta(arms: &[BetaPosterior], floor: f64, rng: &mut impl rand::Rng) -> usize {
        let k = arms.len();
        if rng.random::<f64>() < floor * k as f64 {
            return rng.random_range(0..k);
        }
        let mut best = 0;
        let mut bv = -1.0;
        for (i, a) in arms.iter().enumerate() {
            let x = a.sample(rng);
            if x > bv {
                bv = x;
                best = i;
            }
        }
        best
    }
    pub fn allocation(arms: &[BetaPosterior], floor: f64) -> Vec<f64> {
        let k = arms.len() as f64;
        super::beta::prob_best(arms)
            .into_iter()
            .map(|p| floor + (1.0 - k * floor) * p)
            .collect()
    }
}
