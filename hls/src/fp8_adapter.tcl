# Vitis HLS: C synthesis of the FP8 DMA adapter (run from the repository root):
#   vitis_hls -f hls/src/fp8_adapter.tcl
# PART defaults to the PYNQ-Z2's xc7z020clg400-1; set $env(SML_PART) to override.
set part [expr {[info exists env(SML_PART)] ? $env(SML_PART) : "xc7z020clg400-1"}]
open_project -reset build/fp8_adapter
set_top fp8_adapter
add_files hls/src/fp8_adapter.cpp -cflags "-Ihls/include -std=c++14"
open_solution -reset sol -flow_target vivado
set_part $part
create_clock -period 10 -name default
csynth_design
exit
