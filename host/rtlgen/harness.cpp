// Verilator harness of the generated DNNU top: plays the PS and the DDR behind the HP port.
// Part of sustainml.host.rtlgen (compiled by verilator.py into a shared library with the model).
//
// Contract (C ABI, called through ctypes by rtlsim.py):
//   void* sml_open(const char* rom_dir, char* err, int errlen)
//       builds the model; its initial blocks ($readmemh of the ROM files, paths relative to
//       rom_dir) run once, with the working directory switched to rom_dir under a lock.
//   int sml_run(void* h, const sml_call* call, sml_result* res)
//       one call exactly as the runtime makes it over AXI4-Lite: reset, GIE=1, IER=1, write
//       in_addr/out_addr (64-bit, low word first) and batch, set ap_start, wait for the
//       interrupt, read ap_ctrl (ap_done must be set, and clear on a second read), clear ISR.
//       The AXI masters are served from the two buffers mapped at their addresses: reads return
//       data after `read_latency` cycles, one beat per cycle except on stall cycles (each R beat
//       withheld with probability r_stall; ARREADY/AWREADY/WREADY low with probability
//       ready_stall); a write burst is acknowledged `write_latency` cycles after its last beat.
//       Cycles are counted from the clock edge that takes the ap_start write to the edge that
//       raises ap_done. Returns 0, or 1 timeout (max_cycles), 2 access outside both buffers,
//       3 register protocol violated (message in res->msg).
//       After ap_done, res->act[0 .. n_act) holds the counters of the simulation-only activity
//       monitor `dnnu_act` wrapped around the DNNU (host/rtlgen/activity.py; port sml_act, 64 bits
//       each), counted while the DNNU was busy, and res->n_act their number.
//   void sml_close(void* h)
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <string>
#include <unistd.h>
#include "verilated.h"
#include "Vdnnu.h"

// Verilator renames the port `interrupt` (a C++ common word) in the generated class.
#define SML_IRQ __SYM__interrupt

extern "C" {
struct sml_call {
    uint64_t in_addr; const uint8_t* in; uint64_t in_bytes;
    uint64_t out_addr; uint8_t* out; uint64_t out_bytes;
    int32_t batch; int32_t read_latency; int32_t write_latency; int32_t pad;
    double r_stall; double ready_stall; uint64_t seed; uint64_t max_cycles;
};
#define SML_MAX_ACT 256
struct sml_result {
    uint64_t cycles; uint64_t first_write; uint64_t read_beats; uint64_t write_beats;
    uint64_t read_bursts; uint64_t write_bursts; char msg[256];
    uint64_t n_act; uint64_t act[SML_MAX_ACT];
};
}

namespace {
std::mutex g_cwd_lock;

struct ReadBurst { uint64_t addr; unsigned beats; uint64_t ready_at; };
struct WriteBurst { uint64_t addr; unsigned beats; };

struct Sim {
    VerilatedContext ctx;
    Vdnnu* top = nullptr;
    uint64_t cycle = 0;
    const sml_call* c = nullptr;
    sml_result* r = nullptr;
    std::mt19937_64 rng;
    std::uniform_real_distribution<double> u{0.0, 1.0};
    std::deque<ReadBurst> rq;       // accepted read bursts, oldest first
    std::deque<WriteBurst> wq;      // accepted write bursts awaiting data
    std::deque<uint64_t> bq;        // cycle at which each completed burst's response is due
    unsigned r_done = 0, w_done = 0;
    int error = 0;
    uint64_t start_cycle = 0;
    bool counting = false;

    bool chance(double p) { return p > 0 && u(rng) < p; }

    // a word read must overlap the input buffer; its bytes outside the buffer read as 0
    bool map_read(uint64_t a, uint8_t* dst) {
        if (a + 8 <= c->in_addr || a >= c->in_addr + c->in_bytes) return false;
        for (int i = 0; i < 8; i++) {
            uint64_t b = a + i;
            dst[i] = b >= c->in_addr && b < c->in_addr + c->in_bytes ? c->in[b - c->in_addr] : 0;
        }
        return true;
    }
    bool map_write(uint64_t a, const uint8_t* src, unsigned strb) {
        for (int i = 0; i < 8; i++) {
            if (!(strb >> i & 1)) continue;
            if (a + i < c->out_addr || a + i >= c->out_addr + c->out_bytes) return false;
            c->out[a + i - c->out_addr] = src[i];
        }
        return true;
    }

    void fail(int code, const char* what) {
        if (!error) { error = code; std::snprintf(r->msg, sizeof r->msg, "%s", what); }
    }

    // one clock cycle: drive the slave side, settle, sample handshakes, rising edge, update state
    void tick() {
        Vdnnu& t = *top;
        // read data channel
        bool have_r = !rq.empty() && rq.front().ready_at <= cycle && !chance(c->r_stall);
        t.m_axi_gmem0_RVALID = have_r;
        t.m_axi_gmem0_RRESP = 0;
        t.m_axi_gmem0_RLAST = have_r && r_done + 1 == rq.front().beats;
        if (have_r) {
            uint8_t buf[8];
            uint64_t a = rq.front().addr + 8ull * r_done;
            if (!map_read(a, buf)) { fail(2, "read outside the input buffer"); std::memset(buf, 0, 8); }
            uint64_t v; std::memcpy(&v, buf, 8);
            t.m_axi_gmem0_RDATA = v;
        }
        t.m_axi_gmem0_ARREADY = !chance(c->ready_stall);
        t.m_axi_gmem1_AWREADY = !chance(c->ready_stall);
        t.m_axi_gmem1_WREADY = !wq.empty() && !chance(c->ready_stall);
        bool have_b = !bq.empty() && bq.front() <= cycle;
        t.m_axi_gmem1_BVALID = have_b;
        t.m_axi_gmem1_BRESP = 0;
        t.ap_clk = 0;
        t.eval();
        bool ar = t.m_axi_gmem0_ARVALID && t.m_axi_gmem0_ARREADY;
        bool rf = have_r && t.m_axi_gmem0_RREADY;
        bool aw = t.m_axi_gmem1_AWVALID && t.m_axi_gmem1_AWREADY;
        bool wf = t.m_axi_gmem1_WVALID && t.m_axi_gmem1_WREADY;
        bool bf = have_b && t.m_axi_gmem1_BREADY;
        ReadBurst nr{t.m_axi_gmem0_ARADDR, (unsigned)t.m_axi_gmem0_ARLEN + 1u, cycle + (uint64_t)c->read_latency};
        WriteBurst nw{t.m_axi_gmem1_AWADDR, (unsigned)t.m_axi_gmem1_AWLEN + 1u};
        if (ar && (t.m_axi_gmem0_ARSIZE != 3 || t.m_axi_gmem0_ARBURST != 1))
            fail(3, "read burst not INCR of 8-byte beats");
        if (ar && (nr.addr >> 12) != ((nr.addr + 8ull * nr.beats - 1) >> 12)) fail(3, "read burst crosses 4 KB");
        if (aw && (t.m_axi_gmem1_AWSIZE != 3 || t.m_axi_gmem1_AWBURST != 1))
            fail(3, "write burst not INCR of 8-byte beats");
        if (aw && (nw.addr >> 12) != ((nw.addr + 8ull * nw.beats - 1) >> 12)) fail(3, "write burst crosses 4 KB");
        if (wf) {
            const WriteBurst& b = wq.front();
            uint64_t v = t.m_axi_gmem1_WDATA;
            uint8_t buf[8]; std::memcpy(buf, &v, 8);
            if (!map_write(b.addr + 8ull * w_done, buf, t.m_axi_gmem1_WSTRB))
                fail(2, "write outside the output buffer");
            bool last = w_done + 1 == b.beats;
            if (bool(t.m_axi_gmem1_WLAST) != last) fail(3, "WLAST does not mark the burst's last beat");
            if (r->first_write == 0) r->first_write = cycle - start_cycle;
        }
        t.ap_clk = 1;
        t.eval();
        cycle++;
        if (ar) { rq.push_back(nr); r->read_bursts++; }
        if (rf) { r->read_beats++; if (++r_done == rq.front().beats) { rq.pop_front(); r_done = 0; } }
        if (aw) { wq.push_back(nw); r->write_bursts++; }
        if (wf) {
            r->write_beats++;
            if (++w_done == wq.front().beats) { wq.pop_front(); w_done = 0; bq.push_back(cycle + c->write_latency); }
        }
        if (bf) bq.pop_front();
    }

    void idle_lite() {
        Vdnnu& t = *top;
        t.s_axi_control_AWVALID = 0; t.s_axi_control_WVALID = 0; t.s_axi_control_BREADY = 0;
        t.s_axi_control_ARVALID = 0; t.s_axi_control_RREADY = 0;
    }

    bool lite_write(uint32_t addr, uint32_t data) {
        Vdnnu& t = *top;
        t.s_axi_control_AWADDR = addr; t.s_axi_control_AWVALID = 1;
        t.s_axi_control_WDATA = data; t.s_axi_control_WSTRB = 0xF; t.s_axi_control_WVALID = 1;
        t.s_axi_control_BREADY = 1;
        bool aw = false, w = false;
        for (int i = 0; i < 64; i++) {
            t.ap_clk = 0; t.eval();
            bool awf = t.s_axi_control_AWVALID && t.s_axi_control_AWREADY;
            bool wf = t.s_axi_control_WVALID && t.s_axi_control_WREADY;
            bool bf = t.s_axi_control_BVALID && t.s_axi_control_BREADY;
            tick();
            if (awf) { aw = true; t.s_axi_control_AWVALID = 0; }
            if (wf) { w = true; t.s_axi_control_WVALID = 0; }
            if (aw && w && !counting && addr == 0 && (data & 1)) { counting = true; start_cycle = cycle; }
            if (bf) { idle_lite(); return aw && w; }
        }
        idle_lite();
        return false;
    }

    bool lite_read(uint32_t addr, uint32_t* data) {
        Vdnnu& t = *top;
        t.s_axi_control_ARADDR = addr; t.s_axi_control_ARVALID = 1; t.s_axi_control_RREADY = 1;
        for (int i = 0; i < 64; i++) {
            t.ap_clk = 0; t.eval();
            bool arf = t.s_axi_control_ARVALID && t.s_axi_control_ARREADY;
            bool rf = t.s_axi_control_RVALID && t.s_axi_control_RREADY;
            uint32_t v = t.s_axi_control_RDATA;
            tick();
            if (arf) t.s_axi_control_ARVALID = 0;
            if (rf) { *data = v; idle_lite(); return true; }
        }
        idle_lite();
        return false;
    }
};
}  // namespace

extern "C" void* sml_open(const char* rom_dir, char* err, int errlen) {
    Sim* s = new Sim();
    s->ctx.fatalOnError(false);
    std::lock_guard<std::mutex> g(g_cwd_lock);
    char old[4096];
    if (!getcwd(old, sizeof old) || chdir(rom_dir) != 0) {
        std::snprintf(err, errlen, "cannot enter the ROM folder %s", rom_dir);
        delete s;
        return nullptr;
    }
    s->top = new Vdnnu(&s->ctx, "dnnu");
    s->top->ap_clk = 0;
    s->top->ap_rst_n = 0;
    s->top->eval();  // initial blocks: $readmemh
    if (chdir(old) != 0) { /* the ROMs are loaded; nothing else depends on the directory */ }
    if (s->ctx.gotError()) {
        std::snprintf(err, errlen, "Verilator error while loading the ROM files from %s", rom_dir);
        delete s->top; delete s;
        return nullptr;
    }
    return s;
}

extern "C" void sml_close(void* h) {
    Sim* s = static_cast<Sim*>(h);
    if (!s) return;
    s->top->final();
    delete s->top;
    delete s;
}

extern "C" int sml_run(void* h, const sml_call* call, sml_result* res) {
    Sim* s = static_cast<Sim*>(h);
    std::memset(res, 0, sizeof *res);
    s->c = call; s->r = res; s->rng.seed(call->seed);
    s->rq.clear(); s->wq.clear(); s->bq.clear(); s->r_done = s->w_done = 0; s->error = 0;
    s->counting = false; s->cycle = 0;
    Vdnnu& t = *s->top;
    s->idle_lite();
    t.ap_rst_n = 0;
    for (int i = 0; i < 4; i++) s->tick();
    t.ap_rst_n = 1;
    s->tick();
    bool ok = s->lite_write(0x04, 1) && s->lite_write(0x08, 1)
        && s->lite_write(0x10, (uint32_t)call->in_addr) && s->lite_write(0x14, (uint32_t)(call->in_addr >> 32))
        && s->lite_write(0x1c, (uint32_t)call->out_addr) && s->lite_write(0x20, (uint32_t)(call->out_addr >> 32))
        && s->lite_write(0x28, (uint32_t)call->batch);
    uint32_t v = 0;
    if (ok && s->lite_read(0x00, &v) && !(v & 0x4)) { s->fail(3, "ap_idle low before the call"); }
    if (!ok || !s->lite_write(0x00, 1)) { s->fail(3, "AXI4-Lite write not answered"); return s->error; }
    while (!t.SML_IRQ) {
        if (s->error) return s->error;
        if (s->cycle - s->start_cycle > call->max_cycles) {
            std::snprintf(res->msg, sizeof res->msg, "no ap_done after %llu cycles",
                          (unsigned long long)call->max_cycles);
            return 1;
        }
        s->tick();
    }
    res->cycles = s->cycle - s->start_cycle;
    {   // the monitor's counters stop with the DNNU's busy flag; copy them before the register reads
        size_t n = sizeof(t.sml_act) / 8;
        if (n > SML_MAX_ACT) n = SML_MAX_ACT;
        std::memcpy(res->act, &t.sml_act, n * 8);
        res->n_act = n;
    }
    if (!s->lite_read(0x00, &v) || !(v & 0x2) || !(v & 0x4))
        s->fail(3, "ap_ctrl lacks ap_done/ap_idle after the interrupt");
    if (!s->error && (!s->lite_read(0x00, &v) || (v & 0x2))) { s->fail(3, "ap_done not cleared by reading ap_ctrl"); }
    if (!s->error && (!s->lite_write(0x0c, 1) || t.SML_IRQ)) { s->fail(3, "interrupt still high after clearing ISR"); }
    for (int i = 0; i < 4 && !s->error; i++) s->tick();  // trailing beats would show as protocol errors
    if (!s->error && (!s->rq.empty() || !s->wq.empty() || !s->bq.empty()))
        s->fail(3, "AXI transactions still open after ap_done");
    return s->error;
}
