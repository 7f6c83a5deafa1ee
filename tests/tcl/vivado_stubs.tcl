# Stub Vivado commands for running generated scripts through tclsh: every Vivado command is
# logged as one Tcl list per line to $::stub_log and returns a plausible value (the object
# name it was asked for). Commands a test does not expect fall through `unknown`, which logs
# them too, so a script can never call something silently.
set ::stub_fd [open $::stub_log w]
set ::ip_name dnnu_0
proc log_call {args} { puts $::stub_fd [list {*}$args]; flush $::stub_fd }
proc unknown {args} { log_call {*}$args; return [lindex $args end] }
proc get_board_parts {args} { log_call get_board_parts {*}$args; return "" }
proc get_ipdefs {args} {
    log_call get_ipdefs {*}$args
    set f [lindex $args end]
    if {[string match "*smartconnect*" $f]} { return xilinx.com:ip:smartconnect:1.0 }
    return xilinx.com:ip:[lindex $f end]:5.5
}
proc get_bd_intf_pins {args} {
    log_call get_bd_intf_pins {*}$args
    if {[lsearch -exact $args -of_objects] >= 0} {
        # the DNNU's masters, unsorted, one per bundle as Vitis HLS names them
        return [list /$::ip_name/m_axi_gmem1 /$::ip_name/m_axi_gmem0]
    }
    set p [lindex $args end]
    return [expr {[string index $p 0] eq "/" ? $p : "/$p"}]
}
proc get_bd_pins {args} { log_call get_bd_pins {*}$args; set p [lindex $args end]; return /[string trimleft $p /] }
proc get_bd_cells {args} { log_call get_bd_cells {*}$args; return [list /rst_ps_0_100M] }
proc get_property {args} {
    log_call get_property {*}$args
    switch -- [lindex $args 0] {
        PROGRESS { return 100% }
        DIRECTORY { return $::stub_run_dir }
    }
    return ""
}
