;; Pillow's two resampling passes for 8-bit RGB in WebAssembly SIMD: the same 22-bit fixed-point
;; sums as resample.ts (and Pillow's ImagingResample 8bpc), so the same bytes, several times faster.
;; Compiled by build.mjs into resample-wasm.ts. The caller lays out memory and pads every buffer by
;; 16 bytes: loads may read, and stores may write, up to 15 bytes past a row (the next row's store
;; overwrites them).
(module
  (memory (export "memory") 1)

  ;; [height, inWidth, 3] at $src -> [height, outWidth, 3] at $dst. Per output column xx:
  ;; start (i32) and count (i32) of its input pixels, and `taps` i32 weights at $weights + 4 xx taps.
  ;; Four rows at a time share each weight; the rows left over go one at a time.
  (func (export "horizontal")
    (param $src i32) (param $height i32) (param $inWidth i32) (param $outWidth i32)
    (param $start i32) (param $count i32) (param $weights i32) (param $taps i32) (param $dst i32)
    (local $y i32) (local $xx i32) (local $x i32) (local $n i32) (local $p i32) (local $w i32)
    (local $o i32) (local $stride i32) (local $outStride i32) (local $k v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $stride (i32.mul (local.get $inWidth) (i32.const 3)))
    (local.set $outStride (i32.mul (local.get $outWidth) (i32.const 3)))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $y) (local.get $height)))
        (local.set $xx (i32.const 0))
        (block $columns_done
          (loop $columns
            (br_if $columns_done (i32.ge_u (local.get $xx) (local.get $outWidth)))
            (local.set $p (i32.add (i32.add (local.get $src) (i32.mul (local.get $y) (local.get $stride)))
              (i32.mul (i32.load (i32.add (local.get $start) (i32.shl (local.get $xx) (i32.const 2)))) (i32.const 3))))
            (local.set $n (i32.load (i32.add (local.get $count) (i32.shl (local.get $xx) (i32.const 2)))))
            (local.set $w (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $xx) (local.get $taps)) (i32.const 2))))
            ;; one lane per channel (r, g, b, and the next pixel's red, ignored), rounding half added
            (local.set $a0 (i32x4.splat (i32.const 2097152)))
            (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0))
            (local.set $a3 (local.get $a0))
            (local.set $o (i32.add (i32.add (local.get $dst) (i32.mul (local.get $y) (local.get $outStride))) (i32.mul (local.get $xx) (i32.const 3))))
            (if (i32.le_u (i32.add (local.get $y) (i32.const 4)) (local.get $height))
              (then
                (local.set $x (i32.const 0))
                (block $taps_done
                  (loop $taps
                    (br_if $taps_done (i32.ge_u (local.get $x) (local.get $n)))
                    (local.set $k (i32x4.splat (i32.load (local.get $w))))
                    (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (v128.load8x8_u (local.get $p))) (local.get $k))))
                    (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_low_i16x8_u (v128.load8x8_u (i32.add (local.get $p) (local.get $stride)))) (local.get $k))))
                    (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (v128.load8x8_u (i32.add (local.get $p) (i32.shl (local.get $stride) (i32.const 1))))) (local.get $k))))
                    (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_low_i16x8_u (v128.load8x8_u (i32.add (local.get $p) (i32.mul (local.get $stride) (i32.const 3))))) (local.get $k))))
                    (local.set $p (i32.add (local.get $p) (i32.const 3)))
                    (local.set $w (i32.add (local.get $w) (i32.const 4)))
                    (local.set $x (i32.add (local.get $x) (i32.const 1)))
                    (br $taps)))
                (call $store3 (local.get $o) (local.get $a0))
                (call $store3 (i32.add (local.get $o) (local.get $outStride)) (local.get $a1))
                (call $store3 (i32.add (local.get $o) (i32.shl (local.get $outStride) (i32.const 1))) (local.get $a2))
                (call $store3 (i32.add (local.get $o) (i32.mul (local.get $outStride) (i32.const 3))) (local.get $a3)))
              (else
                (local.set $x (i32.const 0))
                (block $tap_done
                  (loop $tap
                    (br_if $tap_done (i32.ge_u (local.get $x) (local.get $n)))
                    (local.set $a0 (i32x4.add (local.get $a0)
                      (i32x4.mul (i32x4.extend_low_i16x8_u (v128.load8x8_u (local.get $p))) (i32x4.splat (i32.load (local.get $w))))))
                    (local.set $p (i32.add (local.get $p) (i32.const 3)))
                    (local.set $w (i32.add (local.get $w) (i32.const 4)))
                    (local.set $x (i32.add (local.get $x) (i32.const 1)))
                    (br $tap)))
                (call $store3 (local.get $o) (local.get $a0))))
            (local.set $xx (i32.add (local.get $xx) (i32.const 1)))
            (br $columns)))
        ;; four rows done, or one
        (local.set $y (i32.add (local.get $y)
          (select (i32.const 4) (i32.const 1) (i32.le_u (i32.add (local.get $y) (i32.const 4)) (local.get $height)))))
        (br $rows))))

  ;; >> 22, then saturating narrows clamp to [0, 255] as Pillow's clip8 does; stores the 3 bytes
  (func $store3 (param $o i32) (param $acc v128)
    (local.set $acc (i32x4.shr_s (local.get $acc) (i32.const 22)))
    (local.set $acc (i16x8.narrow_i32x4_s (local.get $acc) (local.get $acc)))
    (local.set $acc (i8x16.narrow_i16x8_u (local.get $acc) (local.get $acc)))
    (v128.store16_lane 0 (local.get $o) (local.get $acc))
    (v128.store8_lane 2 (i32.add (local.get $o) (i32.const 2)) (local.get $acc)))

  ;; [inHeight, rowLength bytes] at $src -> [outHeight, rowLength] at $dst, 16 bytes at a time:
  ;; per output row yy, start, count and weights as above, over input rows.
  (func (export "vertical")
    (param $src i32) (param $rowLength i32) (param $outHeight i32)
    (param $start i32) (param $count i32) (param $weights i32) (param $taps i32) (param $dst i32)
    (local $yy i32) (local $i i32) (local $y i32) (local $n i32) (local $p i32) (local $w i32)
    (local $first i32) (local $wbase i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $v v128) (local $lo v128) (local $hi v128) (local $k v128)
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $yy) (local.get $outHeight)))
        (local.set $first (i32.add (local.get $src)
          (i32.mul (i32.load (i32.add (local.get $start) (i32.shl (local.get $yy) (i32.const 2)))) (local.get $rowLength))))
        (local.set $n (i32.load (i32.add (local.get $count) (i32.shl (local.get $yy) (i32.const 2)))))
        (local.set $wbase (i32.add (local.get $weights) (i32.shl (i32.mul (local.get $yy) (local.get $taps)) (i32.const 2))))
        (local.set $i (i32.const 0))
        (block $chunks_done
          (loop $chunks
            (br_if $chunks_done (i32.ge_u (local.get $i) (local.get $rowLength)))
            (local.set $a0 (i32x4.splat (i32.const 2097152)))
            (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0))
            (local.set $a3 (local.get $a0))
            (local.set $p (i32.add (local.get $first) (local.get $i)))
            (local.set $w (local.get $wbase))
            (local.set $y (i32.const 0))
            (block $taps_done
              (loop $taps
                (br_if $taps_done (i32.ge_u (local.get $y) (local.get $n)))
                (local.set $v (v128.load (local.get $p)))
                (local.set $k (i32x4.splat (i32.load (local.get $w))))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $k))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $k))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $k))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $k))))
                (local.set $p (i32.add (local.get $p) (local.get $rowLength)))
                (local.set $w (i32.add (local.get $w) (i32.const 4)))
                (local.set $y (i32.add (local.get $y) (i32.const 1)))
                (br $taps)))
            (v128.store
              (i32.add (local.get $dst) (i32.add (i32.mul (local.get $yy) (local.get $rowLength)) (local.get $i)))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a0) (i32.const 22)) (i32x4.shr_s (local.get $a1) (i32.const 22)))
                (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a2) (i32.const 22)) (i32x4.shr_s (local.get $a3) (i32.const 22)))))
            (local.set $i (i32.add (local.get $i) (i32.const 16)))
            (br $chunks)))
        (local.set $yy (i32.add (local.get $yy) (i32.const 1)))
        (br $rows))))
)
