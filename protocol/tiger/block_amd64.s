//go:build amd64 && !purego

#include "textflag.h"

// Tiger's block function for amd64, on two or three independent blocks at
// once. One Tiger is a chain of dependent table loads, about 11 cycles a
// round, that leaves most of the processor idle; independent blocks
// interleaved fill it, but the compiler's code for a pair (block2Generic)
// spends as many instructions again on shifts, copies and spills and is no
// faster than two single blocks. Here the bytes of c come out through the
// high-byte registers (AH, DH) and every state stays in a register: a pair
// runs about 1.45 times and a triple about 1.7 times as fast as single
// blocks (Zen 3).
//
// Registers: BX the S-boxes (·sbox, four boxes of 256 words, 2048 bytes
// apart); the states a, b, c in R8-R10, R11-R13 and R14, R15, BP (BP is
// saved by the prologue the assembler adds for a frame; R15 is only ever
// written after the one global access, as dynamic linking requires); AX
// and DX the bytes of c, SI and DI table indices, CX a round's sum. The
// message words live in the frame, 64 bytes a block, because the key
// schedule changes them.

// ROUND is c ^= x; a -= t1[c0]^t2[c2]^t3[c4]^t4[c6]; b += t4[c1]^t3[c3]^t2[c5]^t1[c7]
// (t1..t4 at 0, 2048, 4096 and 6144 from BX). The even bytes, on the
// path to the next round, come first.
#define ROUND(a, b, c, x) \
	XORQ x, c; \
	MOVQ c, AX; \
	MOVQ c, DX; \
	SHRQ $32, DX; \
	MOVBLZX AL, SI; \
	SHRQ $16, AX; \
	MOVQ (BX)(SI*8), CX; \
	MOVBLZX AL, SI; \
	XORQ 2048(BX)(SI*8), CX; \
	MOVBLZX DL, SI; \
	XORQ 4096(BX)(SI*8), CX; \
	MOVQ DX, DI; \
	SHRQ $16, DI; \
	MOVBLZX DIB, SI; \
	XORQ 6144(BX)(SI*8), CX; \
	SUBQ CX, a; \
	MOVBLZX AH, SI; \
	MOVQ 4096(BX)(SI*8), CX; \
	MOVQ c, AX; \
	MOVBLZX AH, SI; \
	XORQ 6144(BX)(SI*8), CX; \
	MOVBLZX DH, SI; \
	XORQ 2048(BX)(SI*8), CX; \
	SHRQ $56, AX; \
	XORQ (BX)(AX*8), CX; \
	ADDQ CX, b

#define MUL5(r) LEAQ (r)(r*4), r
#define MUL7(r) IMUL3Q $7, r, r
#define MUL9(r) LEAQ (r)(r*8), r

// KEYSCHEDULE mixes the eight message words at off(SP).
#define KEYSCHEDULE(off) \
	MOVQ 56+off(SP), DX; \
	MOVQ $0xA5A5A5A5A5A5A5A5, CX; \
	XORQ DX, CX; \
	MOVQ 0+off(SP), AX; \
	SUBQ CX, AX; \
	MOVQ AX, 0+off(SP); \
	MOVQ 8+off(SP), SI; \
	XORQ AX, SI; \
	MOVQ SI, 8+off(SP); \
	MOVQ 16+off(SP), DI; \
	ADDQ SI, DI; \
	MOVQ DI, 16+off(SP); \
	NOTQ SI; \
	SHLQ $19, SI; \
	XORQ DI, SI; \
	MOVQ 24+off(SP), CX; \
	SUBQ SI, CX; \
	MOVQ CX, 24+off(SP); \
	MOVQ 32+off(SP), SI; \
	XORQ CX, SI; \
	MOVQ SI, 32+off(SP); \
	MOVQ 40+off(SP), AX; \
	ADDQ SI, AX; \
	MOVQ AX, 40+off(SP); \
	NOTQ SI; \
	SHRQ $23, SI; \
	XORQ AX, SI; \
	MOVQ 48+off(SP), CX; \
	SUBQ SI, CX; \
	MOVQ CX, 48+off(SP); \
	XORQ CX, DX; \
	MOVQ 0+off(SP), AX; \
	ADDQ DX, AX; \
	MOVQ AX, 0+off(SP); \
	MOVQ DX, SI; \
	NOTQ SI; \
	SHLQ $19, SI; \
	XORQ AX, SI; \
	MOVQ 8+off(SP), DI; \
	SUBQ SI, DI; \
	MOVQ DI, 8+off(SP); \
	MOVQ 16+off(SP), SI; \
	XORQ DI, SI; \
	MOVQ SI, 16+off(SP); \
	MOVQ 24+off(SP), AX; \
	ADDQ SI, AX; \
	MOVQ AX, 24+off(SP); \
	NOTQ SI; \
	SHRQ $23, SI; \
	XORQ AX, SI; \
	MOVQ 32+off(SP), CX; \
	SUBQ SI, CX; \
	MOVQ CX, 32+off(SP); \
	MOVQ 40+off(SP), SI; \
	XORQ CX, SI; \
	MOVQ SI, 40+off(SP); \
	MOVQ 48+off(SP), AX; \
	ADDQ SI, AX; \
	MOVQ AX, 48+off(SP); \
	MOVQ $0x0123456789ABCDEF, CX; \
	XORQ AX, CX; \
	SUBQ CX, DX; \
	MOVQ DX, 56+off(SP)

// LOADBLOCK copies the 64-byte block at (ptr) to off(SP).
#define LOADBLOCK(ptr, off) \
	MOVOU 0(ptr), X0; \
	MOVOU 16(ptr), X1; \
	MOVOU 32(ptr), X2; \
	MOVOU 48(ptr), X3; \
	MOVOU X0, 0+off(SP); \
	MOVOU X1, 16+off(SP); \
	MOVOU X2, 32+off(SP); \
	MOVOU X3, 48+off(SP)

// FEEDFORWARD ends a block: s[0] ^= a; s[1] = b - s[1]; s[2] += c.
#define FEEDFORWARD(ptr, a, b, c) \
	XORQ a, 0(ptr); \
	SUBQ 8(ptr), b; \
	MOVQ b, 8(ptr); \
	ADDQ c, 16(ptr)

// func block3AMD64(s, t, u *[3]uint64, p, q, r *[64]byte)
TEXT ·block3AMD64(SB), NOSPLIT, $192-48
	MOVQ p+24(FP), AX
	LOADBLOCK(AX, 0)
	MOVQ q+32(FP), AX
	LOADBLOCK(AX, 64)
	MOVQ r+40(FP), AX
	LOADBLOCK(AX, 128)
	LEAQ ·sbox(SB), BX
	MOVQ s+0(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ t+8(FP), AX
	MOVQ 0(AX), R11
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	MOVQ u+16(FP), AX
	MOVQ 0(AX), R14
	MOVQ 8(AX), R15
	MOVQ 16(AX), BP

	ROUND(R8, R9, R10, 0(SP)); MUL5(R9)
	ROUND(R11, R12, R13, 64(SP)); MUL5(R12)
	ROUND(R14, R15, BP, 128(SP)); MUL5(R15)
	ROUND(R9, R10, R8, 8(SP)); MUL5(R10)
	ROUND(R12, R13, R11, 72(SP)); MUL5(R13)
	ROUND(R15, BP, R14, 136(SP)); MUL5(BP)
	ROUND(R10, R8, R9, 16(SP)); MUL5(R8)
	ROUND(R13, R11, R12, 80(SP)); MUL5(R11)
	ROUND(BP, R14, R15, 144(SP)); MUL5(R14)
	ROUND(R8, R9, R10, 24(SP)); MUL5(R9)
	ROUND(R11, R12, R13, 88(SP)); MUL5(R12)
	ROUND(R14, R15, BP, 152(SP)); MUL5(R15)
	ROUND(R9, R10, R8, 32(SP)); MUL5(R10)
	ROUND(R12, R13, R11, 96(SP)); MUL5(R13)
	ROUND(R15, BP, R14, 160(SP)); MUL5(BP)
	ROUND(R10, R8, R9, 40(SP)); MUL5(R8)
	ROUND(R13, R11, R12, 104(SP)); MUL5(R11)
	ROUND(BP, R14, R15, 168(SP)); MUL5(R14)
	ROUND(R8, R9, R10, 48(SP)); MUL5(R9)
	ROUND(R11, R12, R13, 112(SP)); MUL5(R12)
	ROUND(R14, R15, BP, 176(SP)); MUL5(R15)
	ROUND(R9, R10, R8, 56(SP)); MUL5(R10)
	ROUND(R12, R13, R11, 120(SP)); MUL5(R13)
	ROUND(R15, BP, R14, 184(SP)); MUL5(BP)
	KEYSCHEDULE(0)
	KEYSCHEDULE(64)
	KEYSCHEDULE(128)
	ROUND(R10, R8, R9, 0(SP)); MUL7(R8)
	ROUND(R13, R11, R12, 64(SP)); MUL7(R11)
	ROUND(BP, R14, R15, 128(SP)); MUL7(R14)
	ROUND(R8, R9, R10, 8(SP)); MUL7(R9)
	ROUND(R11, R12, R13, 72(SP)); MUL7(R12)
	ROUND(R14, R15, BP, 136(SP)); MUL7(R15)
	ROUND(R9, R10, R8, 16(SP)); MUL7(R10)
	ROUND(R12, R13, R11, 80(SP)); MUL7(R13)
	ROUND(R15, BP, R14, 144(SP)); MUL7(BP)
	ROUND(R10, R8, R9, 24(SP)); MUL7(R8)
	ROUND(R13, R11, R12, 88(SP)); MUL7(R11)
	ROUND(BP, R14, R15, 152(SP)); MUL7(R14)
	ROUND(R8, R9, R10, 32(SP)); MUL7(R9)
	ROUND(R11, R12, R13, 96(SP)); MUL7(R12)
	ROUND(R14, R15, BP, 160(SP)); MUL7(R15)
	ROUND(R9, R10, R8, 40(SP)); MUL7(R10)
	ROUND(R12, R13, R11, 104(SP)); MUL7(R13)
	ROUND(R15, BP, R14, 168(SP)); MUL7(BP)
	ROUND(R10, R8, R9, 48(SP)); MUL7(R8)
	ROUND(R13, R11, R12, 112(SP)); MUL7(R11)
	ROUND(BP, R14, R15, 176(SP)); MUL7(R14)
	ROUND(R8, R9, R10, 56(SP)); MUL7(R9)
	ROUND(R11, R12, R13, 120(SP)); MUL7(R12)
	ROUND(R14, R15, BP, 184(SP)); MUL7(R15)
	KEYSCHEDULE(0)
	KEYSCHEDULE(64)
	KEYSCHEDULE(128)
	ROUND(R9, R10, R8, 0(SP)); MUL9(R10)
	ROUND(R12, R13, R11, 64(SP)); MUL9(R13)
	ROUND(R15, BP, R14, 128(SP)); MUL9(BP)
	ROUND(R10, R8, R9, 8(SP)); MUL9(R8)
	ROUND(R13, R11, R12, 72(SP)); MUL9(R11)
	ROUND(BP, R14, R15, 136(SP)); MUL9(R14)
	ROUND(R8, R9, R10, 16(SP)); MUL9(R9)
	ROUND(R11, R12, R13, 80(SP)); MUL9(R12)
	ROUND(R14, R15, BP, 144(SP)); MUL9(R15)
	ROUND(R9, R10, R8, 24(SP)); MUL9(R10)
	ROUND(R12, R13, R11, 88(SP)); MUL9(R13)
	ROUND(R15, BP, R14, 152(SP)); MUL9(BP)
	ROUND(R10, R8, R9, 32(SP)); MUL9(R8)
	ROUND(R13, R11, R12, 96(SP)); MUL9(R11)
	ROUND(BP, R14, R15, 160(SP)); MUL9(R14)
	ROUND(R8, R9, R10, 40(SP)); MUL9(R9)
	ROUND(R11, R12, R13, 104(SP)); MUL9(R12)
	ROUND(R14, R15, BP, 168(SP)); MUL9(R15)
	ROUND(R9, R10, R8, 48(SP)); MUL9(R10)
	ROUND(R12, R13, R11, 112(SP)); MUL9(R13)
	ROUND(R15, BP, R14, 176(SP)); MUL9(BP)
	ROUND(R10, R8, R9, 56(SP)); MUL9(R8)
	ROUND(R13, R11, R12, 120(SP)); MUL9(R11)
	ROUND(BP, R14, R15, 184(SP)); MUL9(R14)

	MOVQ s+0(FP), AX
	FEEDFORWARD(AX, R8, R9, R10)
	MOVQ t+8(FP), AX
	FEEDFORWARD(AX, R11, R12, R13)
	MOVQ u+16(FP), AX
	FEEDFORWARD(AX, R14, R15, BP)
	RET

// func block2AMD64(s, t *[3]uint64, p, q *[64]byte)
TEXT ·block2AMD64(SB), NOSPLIT, $128-32
	MOVQ p+16(FP), AX
	LOADBLOCK(AX, 0)
	MOVQ q+24(FP), AX
	LOADBLOCK(AX, 64)
	MOVQ s+0(FP), AX
	MOVQ 0(AX), R8
	MOVQ 8(AX), R9
	MOVQ 16(AX), R10
	MOVQ t+8(FP), AX
	MOVQ 0(AX), R11
	MOVQ 8(AX), R12
	MOVQ 16(AX), R13
	LEAQ ·sbox(SB), BX

	ROUND(R8, R9, R10, 0(SP)); MUL5(R9)
	ROUND(R11, R12, R13, 64(SP)); MUL5(R12)
	ROUND(R9, R10, R8, 8(SP)); MUL5(R10)
	ROUND(R12, R13, R11, 72(SP)); MUL5(R13)
	ROUND(R10, R8, R9, 16(SP)); MUL5(R8)
	ROUND(R13, R11, R12, 80(SP)); MUL5(R11)
	ROUND(R8, R9, R10, 24(SP)); MUL5(R9)
	ROUND(R11, R12, R13, 88(SP)); MUL5(R12)
	ROUND(R9, R10, R8, 32(SP)); MUL5(R10)
	ROUND(R12, R13, R11, 96(SP)); MUL5(R13)
	ROUND(R10, R8, R9, 40(SP)); MUL5(R8)
	ROUND(R13, R11, R12, 104(SP)); MUL5(R11)
	ROUND(R8, R9, R10, 48(SP)); MUL5(R9)
	ROUND(R11, R12, R13, 112(SP)); MUL5(R12)
	ROUND(R9, R10, R8, 56(SP)); MUL5(R10)
	ROUND(R12, R13, R11, 120(SP)); MUL5(R13)
	KEYSCHEDULE(0)
	KEYSCHEDULE(64)
	ROUND(R10, R8, R9, 0(SP)); MUL7(R8)
	ROUND(R13, R11, R12, 64(SP)); MUL7(R11)
	ROUND(R8, R9, R10, 8(SP)); MUL7(R9)
	ROUND(R11, R12, R13, 72(SP)); MUL7(R12)
	ROUND(R9, R10, R8, 16(SP)); MUL7(R10)
	ROUND(R12, R13, R11, 80(SP)); MUL7(R13)
	ROUND(R10, R8, R9, 24(SP)); MUL7(R8)
	ROUND(R13, R11, R12, 88(SP)); MUL7(R11)
	ROUND(R8, R9, R10, 32(SP)); MUL7(R9)
	ROUND(R11, R12, R13, 96(SP)); MUL7(R12)
	ROUND(R9, R10, R8, 40(SP)); MUL7(R10)
	ROUND(R12, R13, R11, 104(SP)); MUL7(R13)
	ROUND(R10, R8, R9, 48(SP)); MUL7(R8)
	ROUND(R13, R11, R12, 112(SP)); MUL7(R11)
	ROUND(R8, R9, R10, 56(SP)); MUL7(R9)
	ROUND(R11, R12, R13, 120(SP)); MUL7(R12)
	KEYSCHEDULE(0)
	KEYSCHEDULE(64)
	ROUND(R9, R10, R8, 0(SP)); MUL9(R10)
	ROUND(R12, R13, R11, 64(SP)); MUL9(R13)
	ROUND(R10, R8, R9, 8(SP)); MUL9(R8)
	ROUND(R13, R11, R12, 72(SP)); MUL9(R11)
	ROUND(R8, R9, R10, 16(SP)); MUL9(R9)
	ROUND(R11, R12, R13, 80(SP)); MUL9(R12)
	ROUND(R9, R10, R8, 24(SP)); MUL9(R10)
	ROUND(R12, R13, R11, 88(SP)); MUL9(R13)
	ROUND(R10, R8, R9, 32(SP)); MUL9(R8)
	ROUND(R13, R11, R12, 96(SP)); MUL9(R11)
	ROUND(R8, R9, R10, 40(SP)); MUL9(R9)
	ROUND(R11, R12, R13, 104(SP)); MUL9(R12)
	ROUND(R9, R10, R8, 48(SP)); MUL9(R10)
	ROUND(R12, R13, R11, 112(SP)); MUL9(R13)
	ROUND(R10, R8, R9, 56(SP)); MUL9(R8)
	ROUND(R13, R11, R12, 120(SP)); MUL9(R11)

	MOVQ s+0(FP), AX
	FEEDFORWARD(AX, R8, R9, R10)
	MOVQ t+8(FP), AX
	FEEDFORWARD(AX, R11, R12, R13)
	RET


