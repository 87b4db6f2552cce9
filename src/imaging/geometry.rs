/// A bounding box a derived copy must fit inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoxSize {
    pub width: u32,
    pub height: u32,
}

impl BoxSize {
    pub const fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    pub const fn square(side: u32) -> Self {
        Self::new(side, side)
    }
}

/// The size of a `width`×`height` image scaled to fit inside `bounds`, keeping the aspect ratio,
/// rounded to the nearest pixel and never enlarged. Integer arithmetic, so that the result is
/// the same on every machine (SPEC: 1500×1000 in 386×513 is 386×257).
pub fn fit_within(width: u32, height: u32, bounds: BoxSize) -> (u32, u32) {
    if width == 0 || height == 0 {
        return (0, 0);
    }
    if width <= bounds.width && height <= bounds.height {
        return (width, height);
    }
    let (w, h) = (u64::from(width), u64::from(height));
    let (bw, bh) = (u64::from(bounds.width), u64::from(bounds.height));
    // The width is the limiting side when bw / w <= bh / h.
    let (nw, nh) = if bw * h <= bh * w {
        (bw, (2 * h * bw + w) / (2 * w))
    } else {
        ((2 * w * bh + h) / (2 * h), bh)
    };
    // Both fit in u32: each is at most the box side.
    (nw.max(1) as u32, nh.max(1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_sizes() {
        assert_eq!(
            fit_within(1500, 1000, BoxSize::new(1280, 1280)),
            (1280, 853)
        );
        assert_eq!(fit_within(1500, 1000, BoxSize::new(386, 513)), (386, 257));
        assert_eq!(fit_within(1500, 1000, BoxSize::new(220, 290)), (220, 147));
        assert_eq!(fit_within(1500, 1000, BoxSize::new(44, 58)), (44, 29));
    }

    #[test]
    fn never_enlarges_and_handles_tall_images() {
        assert_eq!(fit_within(100, 50, BoxSize::new(1280, 1280)), (100, 50));
        assert_eq!(fit_within(1000, 4000, BoxSize::new(386, 513)), (128, 513));
        assert_eq!(fit_within(10000, 1, BoxSize::new(44, 58)), (44, 1));
    }
}
