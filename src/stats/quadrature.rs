//! Globally adaptive Gauss–Kronrod (G10/K21) quadrature over a list of breakpoints.
//!
//! Rule constants and the error estimate are those of QUADPACK's `qk21`/`qag`
//! (Piessens, de Doncker-Kapenga, Überhuber & Kahaner, "QUADPACK", Springer 1983): the
//! error of an interval is resasc·min(1, (200·|K21 − G10| / resasc)^1.5). The integrand may
//! be vector valued (several integrals over the same nodes, e.g. P(best) of every arm);
//! an interval is bisected while the sum of the component errors exceeds the tolerance.

// The rule constants are QUADPACK's 33-digit values, kept as published.
#![allow(clippy::excessive_precision)]

use std::collections::BinaryHeap;

/// Abscissae of the 21-point Kronrod rule on [−1, 1] (positive half; odd indices are the
/// 10-point Gauss nodes).
const XGK: [f64; 11] = [
    0.995_657_163_025_808_080_735_527_280_689_003,
    0.973_906_528_517_171_720_077_964_012_084_452,
    0.930_157_491_355_708_226_001_207_180_059_508,
    0.865_063_366_688_984_510_732_096_688_423_493,
    0.780_817_726_586_416_897_063_717_578_345_042,
    0.679_409_568_299_024_406_234_327_365_114_874,
    0.562_757_134_668_604_683_339_000_099_272_694,
    0.433_395_394_129_247_190_799_265_943_165_784,
    0.294_392_862_701_460_198_131_126_603_103_866,
    0.148_874_338_981_631_210_884_826_001_129_720,
    0.0,
];
/// Weights of the 21-point Kronrod rule.
const WGK: [f64; 11] = [
    0.011_694_638_867_371_874_278_064_396_062_192,
    0.032_558_162_307_964_727_478_818_972_459_390,
    0.054_755_896_574_351_996_031_381_300_244_580,
    0.075_039_674_810_919_952_767_043_140_916_190,
    0.093_125_454_583_697_605_535_065_465_083_366,
    0.109_387_158_802_297_641_899_210_590_325_805,
    0.123_491_976_262_065_851_077_958_109_831_074,
    0.134_709_217_311_473_325_928_054_001_771_707,
    0.142_775_938_577_060_080_797_094_273_138_717,
    0.147_739_104_901_338_491_374_841_515_972_068,
    0.149_445_554_002_916_905_664_936_468_389_821,
];
/// Weights of the 10-point Gauss rule (at XGK[1], XGK[3], …, XGK[9]).
const WG: [f64; 5] = [
    0.066_671_344_308_688_137_593_568_809_893_332,
    0.149_451_349_150_580_593_145_776_339_657_697,
    0.219_086_362_515_982_043_995_534_934_228_163,
    0.269_266_719_309_996_355_091_226_921_569_469,
    0.295_524_224_714_752_870_173_892_994_651_338,
];

/// Result of a (vector) integration: one value and one error estimate per component.
#[derive(Clone, Debug)]
pub struct Integral {
    pub values: Vec<f64>,
    pub errors: Vec<f64>,
    /// Number of integrand evaluations.
    pub evaluations: usize,
}

struct Piece {
    a: f64,
    b: f64,
    values: Vec<f64>,
    errors: Vec<f64>,
    /// Sum of component errors: the priority for bisection.
    error: f64,
    /// True when the error is at round-off level or the interval cannot be split further.
    exhausted: bool,
}

impl PartialEq for Piece {
    fn eq(&self, other: &Self) -> bool {
        self.error == other.error
    }
}
impl Eq for Piece {}
impl PartialOrd for Piece {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Piece {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // exhausted pieces sort last so they are never popped for refinement
        (!self.exhausted, self.error)
            .partial_cmp(&(!other.exhausted, other.error))
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

/// Applies the 21-point rule to a vector integrand on [a, b].
fn gauss_kronrod_21<F: FnMut(f64, &mut [f64])>(
    f: &mut F,
    dim: usize,
    a: f64,
    b: f64,
    scratch: &mut Vec<f64>,
) -> Piece {
    let center = 0.5 * (a + b);
    let half = 0.5 * (b - a);
    // scratch holds the 21 function vectors: index 0 = center, 2i+1 / 2i+2 = ± XGK[i]
    scratch.clear();
    scratch.resize(21 * dim, 0.0);
    for (slot, out) in scratch.chunks_mut(dim).enumerate() {
        let x = match slot {
            0 => center,
            s if s % 2 == 1 => center - half * XGK[(s - 1) / 2],
            s => center + half * XGK[(s - 2) / 2],
        };
        f(x, out);
    }
    let mut values = vec![0.0; dim];
    let mut errors = vec![0.0; dim];
    let mut exhausted = true;
    for c in 0..dim {
        let at = |slot: usize| scratch[slot * dim + c];
        let f_center = at(0);
        let mut kronrod = WGK[10] * f_center;
        let mut gauss = 0.0;
        let mut abs_sum = WGK[10] * f_center.abs();
        for i in 0..10 {
            let pair = at(2 * i + 1) + at(2 * i + 2);
            kronrod += WGK[i] * pair;
            abs_sum += WGK[i] * (at(2 * i + 1).abs() + at(2 * i + 2).abs());
            if i % 2 == 1 {
                gauss += WG[i / 2] * pair;
            }
        }
        let mean = 0.5 * kronrod;
        let mut asc = WGK[10] * (f_center - mean).abs();
        for (i, w) in WGK.iter().take(10).enumerate() {
            asc += w * ((at(2 * i + 1) - mean).abs() + (at(2 * i + 2) - mean).abs());
        }
        let result = kronrod * half;
        let resabs = abs_sum * half.abs();
        let resasc = asc * half.abs();
        let mut err = ((kronrod - gauss) * half).abs();
        if resasc != 0.0 && err != 0.0 {
            err = resasc * (200.0 * err / resasc).powf(1.5).min(1.0);
        }
        let roundoff = 50.0 * f64::EPSILON * resabs;
        if err > roundoff {
            exhausted = false;
        }
        values[c] = result;
        errors[c] = err.max(roundoff);
    }
    // An interval too narrow to split in floating point cannot be refined.
    if center <= a || center >= b {
        exhausted = true;
    }
    let error = errors.iter().sum();
    Piece {
        a,
        b,
        values,
        errors,
        error,
        exhausted,
    }
}

/// Integrates the `dim`-component function `f(x, out)` over [points[0], points.last()],
/// starting from the intervals between consecutive `points` (sorted, duplicates ignored),
/// bisecting the worst interval until every component's total error estimate is at most
/// `abs_tol`, or `max_intervals` is reached, or nothing can be refined further.
pub fn integrate_vec<F: FnMut(f64, &mut [f64])>(
    mut f: F,
    dim: usize,
    points: &[f64],
    abs_tol: f64,
    max_intervals: usize,
) -> Integral {
    let mut heap = BinaryHeap::new();
    let mut scratch = Vec::new();
    let mut evaluations = 0;
    // Running sum of the error estimates of the pieces that can still be refined; pieces at
    // round-off level are final and do not count against the tolerance.
    let mut open_error = vec![0.0; dim];
    let push = |heap: &mut BinaryHeap<Piece>, piece: Piece, open_error: &mut [f64]| {
        if !piece.exhausted {
            for (e, pe) in open_error.iter_mut().zip(&piece.errors) {
                *e += pe;
            }
        }
        heap.push(piece);
    };
    for w in points.windows(2) {
        if w[1] > w[0] {
            let piece = gauss_kronrod_21(&mut f, dim, w[0], w[1], &mut scratch);
            push(&mut heap, piece, &mut open_error);
            evaluations += 21;
        }
    }
    while heap.len() < max_intervals {
        if open_error.iter().all(|&e| e <= abs_tol) {
            break;
        }
        match heap.peek() {
            Some(p) if !p.exhausted => {}
            _ => break,
        }
        let worst = heap.pop().expect("non-empty heap");
        for (e, we) in open_error.iter_mut().zip(&worst.errors) {
            *e -= we;
        }
        let mid = 0.5 * (worst.a + worst.b);
        let left = gauss_kronrod_21(&mut f, dim, worst.a, mid, &mut scratch);
        let right = gauss_kronrod_21(&mut f, dim, mid, worst.b, &mut scratch);
        push(&mut heap, left, &mut open_error);
        push(&mut heap, right, &mut open_error);
        evaluations += 42;
        if heap.len() % 64 == 0 {
            // refresh the running sums to keep subtraction drift out
            open_error.iter_mut().for_each(|e| *e = 0.0);
            for p in heap.iter().filter(|p| !p.exhausted) {
                for (e, pe) in open_error.iter_mut().zip(&p.errors) {
                    *e += pe;
                }
            }
        }
    }
    // Sum the pieces in order of position with compensated (Neumaier) summation.
    let mut pieces = heap.into_vec();
    pieces.sort_by(|p, q| p.a.partial_cmp(&q.a).unwrap_or(std::cmp::Ordering::Equal));
    let mut values = vec![0.0; dim];
    let mut errors = vec![0.0; dim];
    for c in 0..dim {
        let (mut sum, mut compensation) = (0.0f64, 0.0f64);
        for p in &pieces {
            let v = p.values[c];
            let t = sum + v;
            compensation += if sum.abs() >= v.abs() {
                (sum - t) + v
            } else {
                (v - t) + sum
            };
            sum = t;
            errors[c] += p.errors[c];
        }
        values[c] = sum + compensation;
    }
    Integral {
        values,
        errors,
        evaluations,
    }
}

/// Scalar version of [`integrate_vec`]: returns (value, error estimate).
pub fn integrate<F: FnMut(f64) -> f64>(
    mut f: F,
    points: &[f64],
    abs_tol: f64,
    max_intervals: usize,
) -> (f64, f64) {
    let r = integrate_vec(
        |x, out: &mut [f64]| out[0] = f(x),
        1,
        points,
        abs_tol,
        max_intervals,
    );
    (r.values[0], r.errors[0])
}

/// Sorts and deduplicates breakpoints, keeping those within [lo, hi] and adding lo and hi.
pub fn clean_breakpoints(points: &mut Vec<f64>, lo: f64, hi: f64) {
    points.retain(|p| p.is_finite() && *p > lo && *p < hi);
    points.push(lo);
    points.push(hi);
    points.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    points.dedup();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kronrod_rule_is_exact_for_polynomials_to_degree_31() {
        // ∫_0^1 x^k dx = 1/(k+1): the 21-point Kronrod rule is exact to degree 31.
        for k in [0, 1, 5, 19, 30, 31] {
            let (v, _) = integrate(|x| x.powi(k), &[0.0, 1.0], 1.0, 1);
            assert!((v - 1.0 / (k as f64 + 1.0)).abs() < 1e-15, "k={k} v={v}");
        }
    }
}
