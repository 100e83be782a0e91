;; The mixes' inner loops in WebAssembly SIMD, four samples per instruction where V8's JIT does
;; one (src/bench/mixer.ts measures them). Built into mix.wasm.ts by scripts/build-wasm.mjs; a
;; unit test checks they agree.
;;
;; The stereo mix of spatial rooms: each input's mono Int16 frame, times a gain per side that
;; moves linearly across the frame, summed into planar float32 left and right sums.
;; mix(count, gains, frames, sumLeft, sumRight), all addresses in bytes:
;;   gains     count × 4 float32: gain left at the frame's start, its step per sample, the same right
;;   frames    count × 480 Int16 samples, one frame after the other
;;   sumLeft, sumRight   480 float32 each, overwritten
;; Sample i of an input is weighted by start + (i + 1) × step, as the JavaScript mixer did.
(module
  (memory (export "memory") 1)
  (func (export "mix")
    (param $count i32) (param $gains i32) (param $frames i32) (param $sumLeft i32) (param $sumRight i32)
    (local $input i32) (local $offset i32) (local $gain i32) (local $frame i32)
    (local $left v128) (local $right v128) (local $stepLeft v128) (local $stepRight v128)
    (local $samples v128) (local $at i32)
    ;; Clear both sums (1920 bytes each).
    (local.set $offset (i32.const 0))
    (loop $clear
      (v128.store (i32.add (local.get $sumLeft) (local.get $offset)) (v128.const i32x4 0 0 0 0))
      (v128.store (i32.add (local.get $sumRight) (local.get $offset)) (v128.const i32x4 0 0 0 0))
      (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
      (br_if $clear (i32.lt_u (local.get $offset) (i32.const 1920))))
    (local.set $input (i32.const 0))
    (block $done
      (loop $inputs
        (br_if $done (i32.ge_u (local.get $input) (local.get $count)))
        (local.set $gain (i32.add (local.get $gains) (i32.shl (local.get $input) (i32.const 4))))
        ;; Four lanes of the ramp: start + step × (1, 2, 3, 4), then four steps further each time.
        (local.set $left
          (f32x4.add
            (f32x4.splat (f32.load (local.get $gain)))
            (f32x4.mul (f32x4.splat (f32.load offset=4 (local.get $gain))) (v128.const f32x4 1 2 3 4))))
        (local.set $stepLeft (f32x4.splat (f32.mul (f32.load offset=4 (local.get $gain)) (f32.const 4))))
        (local.set $right
          (f32x4.add
            (f32x4.splat (f32.load offset=8 (local.get $gain)))
            (f32x4.mul (f32x4.splat (f32.load offset=12 (local.get $gain))) (v128.const f32x4 1 2 3 4))))
        (local.set $stepRight (f32x4.splat (f32.mul (f32.load offset=12 (local.get $gain)) (f32.const 4))))
        (local.set $frame (i32.add (local.get $frames) (i32.mul (local.get $input) (i32.const 960))))
        ;; $offset walks the float32 sums; the Int16 frame is read at half of it.
        (local.set $offset (i32.const 0))
        (loop $sample
          (local.set $samples
            (f32x4.convert_i32x4_s
              (v128.load16x4_s (i32.add (local.get $frame) (i32.shr_u (local.get $offset) (i32.const 1))))))
          (local.set $at (i32.add (local.get $sumLeft) (local.get $offset)))
          (v128.store (local.get $at)
            (f32x4.add (v128.load (local.get $at)) (f32x4.mul (local.get $samples) (local.get $left))))
          (local.set $at (i32.add (local.get $sumRight) (local.get $offset)))
          (v128.store (local.get $at)
            (f32x4.add (v128.load (local.get $at)) (f32x4.mul (local.get $samples) (local.get $right))))
          (local.set $left (f32x4.add (local.get $left) (local.get $stepLeft)))
          (local.set $right (f32x4.add (local.get $right) (local.get $stepRight)))
          (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
          (br_if $sample (i32.lt_u (local.get $offset) (i32.const 1920))))
        (local.set $input (i32.add (local.get $input) (i32.const 1)))
        (br $inputs))))

;; The mono mix: the same sum with the left gains only, then the output frame written in one
;; more pass that also measures the peak, so the caller runs its limiter only when needed.
;; mix_mono(count, gains, frames, sum, out) → the sum's peak magnitude:
;;   gains, frames   as for mix (each input's right gains are ignored)
;;   sum             480 float32, overwritten
;;   out             480 Int16: the sum rounded half away from zero, saturated to Int16
  (func (export "mix_mono")
    (param $count i32) (param $gains i32) (param $frames i32) (param $sum i32) (param $out i32)
    (result f32)
    (local $input i32) (local $offset i32) (local $gain i32) (local $frame i32)
    (local $ramp v128) (local $step v128) (local $at i32) (local $peak v128)
    (local $low v128) (local $high v128)
    (local.set $offset (i32.const 0))
    (loop $clear
      (v128.store (i32.add (local.get $sum) (local.get $offset)) (v128.const i32x4 0 0 0 0))
      (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
      (br_if $clear (i32.lt_u (local.get $offset) (i32.const 1920))))
    (local.set $input (i32.const 0))
    (block $done
      (loop $inputs
        (br_if $done (i32.ge_u (local.get $input) (local.get $count)))
        (local.set $gain (i32.add (local.get $gains) (i32.shl (local.get $input) (i32.const 4))))
        (local.set $ramp
          (f32x4.add
            (f32x4.splat (f32.load (local.get $gain)))
            (f32x4.mul (f32x4.splat (f32.load offset=4 (local.get $gain))) (v128.const f32x4 1 2 3 4))))
        (local.set $step (f32x4.splat (f32.mul (f32.load offset=4 (local.get $gain)) (f32.const 4))))
        (local.set $frame (i32.add (local.get $frames) (i32.mul (local.get $input) (i32.const 960))))
        (local.set $offset (i32.const 0))
        (loop $sample
          (local.set $at (i32.add (local.get $sum) (local.get $offset)))
          (v128.store (local.get $at)
            (f32x4.add
              (v128.load (local.get $at))
              (f32x4.mul
                (f32x4.convert_i32x4_s
                  (v128.load16x4_s (i32.add (local.get $frame) (i32.shr_u (local.get $offset) (i32.const 1)))))
                (local.get $ramp))))
          (local.set $ramp (f32x4.add (local.get $ramp) (local.get $step)))
          (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
          (br_if $sample (i32.lt_u (local.get $offset) (i32.const 1920))))
        (local.set $input (i32.add (local.get $input) (i32.const 1)))
        (br $inputs)))
    ;; Eight samples a pass: two float32 quads, each rounded (± 0.5 by its sign, then truncated
    ;; toward zero) and converted, narrowed with saturation into eight Int16.
    (local.set $peak (v128.const i32x4 0 0 0 0))
    (local.set $offset (i32.const 0))
    (loop $write
      (local.set $low (v128.load (i32.add (local.get $sum) (local.get $offset))))
      (local.set $high (v128.load offset=16 (i32.add (local.get $sum) (local.get $offset))))
      (local.set $peak (f32x4.max (local.get $peak) (f32x4.max (f32x4.abs (local.get $low)) (f32x4.abs (local.get $high)))))
      (v128.store (i32.add (local.get $out) (i32.shr_u (local.get $offset) (i32.const 1)))
        (i16x8.narrow_i32x4_s
          (i32x4.trunc_sat_f32x4_s (f32x4.add (local.get $low) (call $halfBySign (local.get $low))))
          (i32x4.trunc_sat_f32x4_s (f32x4.add (local.get $high) (call $halfBySign (local.get $high))))))
      (local.set $offset (i32.add (local.get $offset) (i32.const 32)))
      (br_if $write (i32.lt_u (local.get $offset) (i32.const 1920))))
    (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $peak)) (f32x4.extract_lane 1 (local.get $peak)))
      (f32.max (f32x4.extract_lane 2 (local.get $peak)) (f32x4.extract_lane 3 (local.get $peak)))))
  ;; 0.5 with each lane's sign: its sign bit on 0.5's bits.
  (func $halfBySign (param $v v128) (result v128)
    (v128.or
      (v128.and (local.get $v) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
      (v128.const f32x4 0.5 0.5 0.5 0.5)))
)
