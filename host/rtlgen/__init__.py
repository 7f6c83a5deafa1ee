"""The RTL backend: the DNNU in synthesizable Verilog (library in ``hls/rtl/``).

* :mod:`.stages` (rtl-lib): per-stage module names, ROM files, instantiation text, checks.
* :mod:`.top` (rtl-top): the generated ``dnnu`` top (AXI4-Lite ap_ctrl_hs + AXI4 masters + stages)
  and the project folder ``BUILD_DIR/rtl/`` with every source and ROM file side by side.
* :mod:`.verilator` / :mod:`.rtlsim` (rtl-top): Verilator build of a project with the C++
  harness that plays the PS (cached by content hash), and its ctypes binding.
"""
