// Verilator harness of the single-module RTL test bench (tests/rtl_bench.py): drives the
// generated top `sml_bench` (N stage instances, one selected at run time by `sel`) like a
// stream source and sink with random stalls, and records the cycle of every output beat.
#include <cstdint>
#include <cstring>
#include <random>
#include "Vbench.h"
#include "verilated.h"

double sc_time_stamp() { return 0; }

namespace {
struct Bench {
    VerilatedContext ctx;
    Vbench* top;
    Bench() : top(nullptr) {}
};

void tick(Vbench* t) {
    t->ap_clk = 0;
    t->eval();
    t->ap_clk = 1;
    t->eval();
}

template <typename W>
void put_words(W& port, const uint32_t* src, int n) {
    for (int i = 0; i < n; ++i) port[i] = src[i];
}
}  // namespace

extern "C" void* bench_open() {
    Bench* b = new Bench();
    // every register starts with random bits (built with --x-initial unique): a register
    // without reset that mattered would show as a mismatch
    b->ctx.randReset(2);
    b->ctx.randSeed(12345);
    b->top = new Vbench(&b->ctx);
    b->top->ap_clk = 0;
    b->top->ap_rst_n = 0;
    b->top->eval();  // initial blocks: $readmemh
    return b;
}

extern "C" void bench_close(void* h) {
    Bench* b = static_cast<Bench*>(h);
    b->top->final();
    delete b->top;
    delete b;
}

// Streams n_in beats (in_stride 32-bit words each) into case `sel`, collects n_out beats into
// `out` (out_stride words each) and the cycle of each into `cycles` (cycle 0 = first cycle after
// reset). stall_in / stall_out: per-cycle probability (percent) that the source withholds valid /
// the sink withholds ready. Returns 0 on success; -1 on timeout (max_cycles), -2 when the module
// emitted an extra beat within `tail` cycles after the last expected one, -3 when input was left,
// -4 when an offered output beat was withdrawn or changed before the sink took it (AXI-Stream rule).
extern "C" long bench_run(void* h, int sel, const uint32_t* in, long n_in, int in_stride, uint32_t* out,
                          long n_out, int out_stride, long long* cycles, unsigned seed, int stall_in,
                          int stall_out, long max_cycles, int tail) {
    Vbench* t = static_cast<Bench*>(h)->top;
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> pct(0, 99);
    t->sel = sel;
    t->in_valid = 0;
    t->out_ready = 0;
    t->ap_rst_n = 0;
    for (int i = 0; i < 3; ++i) tick(t);
    t->ap_rst_n = 1;
    long i_in = 0, i_out = 0, cyc = 0, after = 0;
    const int in_words = (int)(sizeof(t->in_data) / sizeof(uint32_t));
    const int out_words = (int)(sizeof(t->out_data) / sizeof(uint32_t));
    uint32_t zero[64];
    std::memset(zero, 0, sizeof zero);
    bool valid = false;
    bool held = false;  // an output beat was offered and not taken last cycle
    uint32_t held_data[64];
    while (true) {
        // source: a beat once offered stays offered (AXI-Stream) until taken
        if (!valid && i_in < n_in && (stall_in == 0 || pct(rng) >= stall_in)) valid = true;
        t->in_valid = valid;
        put_words(t->in_data, valid ? in + i_in * in_stride : zero, in_words < in_stride ? in_words : in_stride);
        const bool ready = stall_out == 0 || pct(rng) >= stall_out;
        t->out_ready = ready;
        t->ap_clk = 0;
        t->eval();  // settle combinational readies/valids for this cycle
        const bool took = valid && t->in_ready;
        const bool gave = t->out_valid && ready;
        if (held) {
            if (!t->out_valid) return -4;
            for (int w = 0; w < out_words && w < 64; ++w)
                if (held_data[w] != t->out_data[w]) return -4;
        }
        held = t->out_valid && !ready;
        if (held)
            for (int w = 0; w < out_words && w < 64; ++w) held_data[w] = t->out_data[w];
        if (gave) {
            if (i_out >= n_out) return -2;
            for (int w = 0; w < out_stride && w < out_words; ++w) out[i_out * out_stride + w] = t->out_data[w];
            cycles[i_out] = cyc;
            ++i_out;
        }
        t->ap_clk = 1;
        t->eval();
        if (took) {
            ++i_in;
            valid = false;
        }
        ++cyc;
        if (i_out >= n_out) {
            if (after++ >= tail) break;
        }
        if (cyc > max_cycles) return -1;
    }
    return i_in == n_in ? 0 : -3;
}
