//! The convolution kernels of the selfie models on the landscape model's own shapes: its 1×1
//! convolutions ([`pointwise`]) and its stem and depthwise convolutions ([`spatial_conv`]).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use bodyzone::model::kernel::Activation;
use bodyzone::model::pointwise::{Pointwise, pointwise};
use bodyzone::model::spatial::{Geometry, spatial_conv};

fn values(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i % 97) as f32 * 0.02 - 1.0).collect()
}

fn pointwise_convs(c: &mut Criterion) {
    for (i, o, h, w) in [
        (16, 16, 72, 128),
        (16, 72, 36, 64),
        (24, 88, 18, 32),
        (128, 32, 9, 16),
    ] {
        let op = Pointwise::new(&values(o * i), &values(o), i, Activation::Relu, false);
        let packed = op.packed.try_as_plain_ram().unwrap();
        let bias = op.bias.try_as_plain_ram().unwrap();
        let (packed, bias) = (
            packed.as_slice::<f32>().unwrap(),
            bias.as_slice::<f32>().unwrap(),
        );
        let src = values(i * h * w);
        let (mut scratch, mut dst) = (Vec::new(), vec![0f32; o * h * w]);
        c.bench_function(&format!("pointwise {i}→{o} {h}x{w}"), |b| {
            b.iter(|| {
                pointwise(
                    i,
                    h * w,
                    black_box(&src),
                    packed,
                    bias,
                    Activation::Relu,
                    None,
                    &mut scratch,
                    black_box(&mut dst),
                )
            })
        });
    }
}

fn spatial_convs(c: &mut Criterion) {
    // (in channels, group, kernel, stride, pad before, input, output)
    for (ci, group, k, s, pad, (h, w), (oh, ow)) in [
        (3, 1, 3, 2, 0, (144, 256), (72, 128)),
        (16, 16, 3, 1, 1, (72, 128), (72, 128)),
        (16, 16, 3, 2, 0, (72, 128), (36, 64)),
        (72, 72, 3, 2, 0, (36, 64), (18, 32)),
        (96, 96, 5, 2, 1, (18, 32), (9, 16)),
        (128, 128, 5, 1, 2, (9, 16), (9, 16)),
    ] {
        let co = if group == 1 { 16 } else { ci };
        let g = Geometry {
            in_channels: ci,
            out_channels: co,
            group,
            kernel: (k, k),
            stride: (s, s),
            pad: (pad, pad),
        };
        let src = values(ci * h * w);
        let kernel = values(co * (ci / group) * k * k);
        let bias = values(co);
        let mut scratch = Vec::new();
        let mut dst = vec![0f32; co * oh * ow];
        c.bench_function(
            &format!("spatial {ci}→{co}/{group} {k}x{k} s{s} {h}x{w}"),
            |b| {
                b.iter(|| {
                    spatial_conv(
                        &g,
                        (h, w),
                        (oh, ow),
                        black_box(&src),
                        &kernel,
                        &bias,
                        Activation::HardSwish,
                        None,
                        &mut scratch,
                        black_box(&mut dst),
                    )
                })
            },
        );
    }
}

criterion_group!(benches, pointwise_convs, spatial_convs);
criterion_main!(benches);
