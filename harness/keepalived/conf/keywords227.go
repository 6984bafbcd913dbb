package conf

// keywords227 is the keyword table of keepalived 2.2.7 as Debian 12 builds
// it ("Config options: NFTABLES LVS REGEX VRRP VRRP_AUTH VRRP_VMAC JSON
// BFD … SNMP_* DBUS" in keepalived -v), taken from the install_keyword*()
// calls of core/global_parser.c, vrrp/vrrp_parser.c, check/check_parser.c
// and the checkers, bfd/bfd_parser.c and trackers/track_file.c, and
// checked against the binary: keepalived -t knows every keyword below,
// reads a "{" keyword's block as keywords and a "[" keyword's block as
// values (one entry a line).
//
// Format: two spaces of indent per level; "KEYWORD {" has a block of
// keywords, "KEYWORD [" a block of values (alloc_value_block), a bare
// KEYWORD none. A "@PROCESS" line says which of keepalived's processes
// read the top-level keywords after it: global (the parent), vrrp,
// check, bfd (all three children), track (VRRP and checker). A "*PART"
// line stands for the lines of keywordParts227[PART] at its indent, as
// keepalived installs the same keywords in several checkers.
const keywords227 = `
@global
linkbeat_use_polling
net_namespace
net_namespace_ipvs
namespace_with_ipsets
use_pid_dir
instance
child_wait_time
global_defs {
  process_names
  process_name
  vrrp_process_name
  checker_process_name
  lvs_process_name
  bfd_process_name
  router_id
  notification_email_from
  smtp_server
  smtp_helo_name
  smtp_connect_timeout
  notification_email [
  smtp_alert
  startup_script
  startup_script_timeout
  shutdown_script
  shutdown_script_timeout
  max_auto_priority
  min_auto_priority_delay
  smtp_alert_vrrp
  smtp_alert_checker
  checker_log_all_failures
  dynamic_interfaces
  no_email_faults
  default_interface
  disable_local_igmp
  lvs_timeouts
  lvs_flush
  lvs_flush_on_stop
  lvs_flush_onstop
  lvs_sync_daemon
  vrrp_mcast_group4
  vrrp_mcast_group6
  vrrp_garp_master_delay
  vrrp_garp_master_repeat
  vrrp_garp_master_refresh
  vrrp_garp_master_refresh_repeat
  vrrp_garp_lower_prio_delay
  vrrp_garp_lower_prio_repeat
  vrrp_down_timer_adverts
  vrrp_garp_interval
  vrrp_gna_interval
  vrrp_min_garp
  vrrp_garp_extra_if
  vrrp_vmac_garp_intvl
  vrrp_lower_prio_no_advert
  vrrp_higher_prio_send_advert
  vrrp_version
  vrrp_iptables
  nftables
  nftables_priority
  nftables_ifindex
  nftables_ipvs
  nftables_ipvs_priority
  nftables_ipvs_start_fwmark
  nftables_counters
  vrrp_check_unicast_src
  vrrp_skip_check_adv_addr
  vrrp_strict
  vrrp_priority
  vrrp_no_swap
  vrrp_rt_priority
  vrrp_cpu_affinity
  vrrp_rlimit_rttime
  vrrp_rlimit_rtime
  notify_fifo
  notify_fifo_script
  vrrp_notify_fifo
  vrrp_notify_fifo_script
  vrrp_notify_priority_changes
  fifo_write_vrrp_states_on_reload
  lvs_notify_fifo
  lvs_notify_fifo_script
  checker_priority
  checker_no_swap
  checker_rt_priority
  checker_cpu_affinity
  checker_rlimit_rttime
  checker_rlimit_rtime
  bfd_priority
  bfd_no_swap
  bfd_rt_priority
  bfd_cpu_affinity
  bfd_rlimit_rttime
  bfd_rlimit_rtime
  snmp_socket
  enable_traps
  enable_snmp_vrrp
  enable_snmp_keepalived
  enable_snmp_rfc
  enable_snmp_rfcv2
  enable_snmp_rfcv3
  enable_snmp_checker
  enable_dbus
  dbus_service_name
  script_user
  enable_script_security
  vrrp_netlink_cmd_rcv_bufs
  vrrp_netlink_cmd_rcv_bufs_force
  vrrp_netlink_monitor_rcv_bufs
  vrrp_netlink_monitor_rcv_bufs_force
  process_monitor_rcv_bufs
  process_monitor_rcv_bufs_force
  lvs_netlink_cmd_rcv_bufs
  lvs_netlink_cmd_rcv_bufs_force
  lvs_netlink_monitor_rcv_bufs
  lvs_netlink_monitor_rcv_bufs_force
  rs_init_notifies
  no_checker_emails
  vrrp_rx_bufs_policy
  vrrp_rx_bufs_multiplier
  vrrp_startup_delay
  log_unknown_vrids
  vmac_prefix
  vmac_addr_prefix
  umask
  random_seed
  reload_check_config
  reload_time_file
  reload_repeat
  reload_file
  include_check
  config_save_dir
  tmp_config_directory
  data_use_instance
@vrrp
track_group {
  group [
static_ipaddress [
static_routes [
static_rules [
vrrp_sync_group {
  group [
  track_interface [
  track_script [
  track_file [
  track_process [
  track_bfd [
  notify_backup
  notify_master
  notify_fault
  notify_stop
  notify
  smtp_alert
  global_tracking
  sync_group_tracking_weight
  notify_priority_changes
garp_group {
  garp_interval
  gna_interval
  interface
  interfaces [
linkbeat_interfaces [
vrrp_instance {
  use_vmac
  use_vmac_addr
  vmac_xmit_base
  use_ipvlan
  unicast_peer [
  unicast_fault_no_peer
  check_unicast_src
  old_unicast_checksum
  native_ipv6
  state
  interface
  vrf
  dont_track_primary
  track_interface [
  track_script [
  track_file [
  track_process [
  track_bfd [
  mcast_src_ip
  unicast_src_ip
  mcast_dst_ip
  track_src_ip
  virtual_router_id
  unicast_ttl
  version
  priority
  advert_int
  virtual_ipaddress [
  virtual_ipaddress_excluded [
  promote_secondaries
  linkbeat_use_polling
  virtual_routes [
  virtual_rules [
  accept
  no_accept
  skip_check_adv_addr
  strict_mode
  preempt
  nopreempt
  preempt_delay
  debug
  notify_backup
  notify_master
  notify_fault
  notify_stop
  notify_deleted
  notify
  notify_master_rx_lower_pri
  smtp_alert
  notify_priority_changes
  lvs_sync_daemon_interface
  garp_master_delay
  garp_master_refresh
  garp_master_repeat
  garp_master_refresh_repeat
  garp_lower_prio_delay
  garp_lower_prio_repeat
  down_timer_adverts
  garp_extra_if
  vmac_garp_intvl
  lower_prio_no_advert
  higher_prio_send_advert
  kernel_rx_buf_size
  authentication {
    auth_type
    auth_pass
vrrp_script {
  script
  interval
  timeout
  weight
  rise
  fall
  user
  init_fail
vrrp_track_process {
  process
  param_match
  weight
  quorum
  quorum_max
  delay
  terminate_delay
  fork_delay
  full_command
interface_up_down_delays [
@check
SSL {
  password
  ca
  certificate
  key
virtual_server_group [
virtual_server {
  ip_family
  retry
  delay_before_retry
  warmup
  connect_timeout
  delay_loop
  inhibit_on_failure
  lb_algo
  lvs_sched
  hashed
  ops
  flag-1
  flag-2
  flag-3
  sh-port
  sh-fallback
  mh-port
  mh-fallback
  lb_kind
  lvs_method
  persistence_engine
  persistence_timeout
  persistence_granularity
  protocol
  ha_suspend
  smtp_alert
  virtualhost
  snmp_name
  alpha
  omega
  quorum_up
  quorum_down
  quorum
  hysteresis
  weight
  sorry_server
  sorry_server_inhibit
  sorry_server_lvs_method
  real_server {
    weight
    lvs_method
    uthreshold
    lthreshold
    inhibit_on_failure
    notify_up
    notify_down
    alpha
    retry
    delay_before_retry
    warmup
    connect_timeout
    delay_loop
    smtp_alert
    virtualhost
    snmp_name
    MISC_CHECK {
      *checker
      misc_path
      misc_timeout
      misc_dynamic
      user
    SMTP_CHECK {
      helo_name
      *connection
      *checker
      host {
        *connection
        *checker
    TCP_CHECK {
      *connection
      *checker
    PING_CHECK {
      *connection
      *checker
    UDP_CHECK {
      *connection
      *checker
      payload
      require_reply
      min_reply_length
      max_reply_length
    HTTP_GET {
      *http
    SSL_GET {
      *http
    DNS_CHECK {
      *connection
      *checker
      type
      name
    FILE_CHECK {
      track_file
      weight
    BFD_CHECK {
      name
      alpha
@bfd
bfd_instance {
  source_ip
  neighbor_ip
  neighbour_ip
  min_rx
  min_tx
  idle_tx
  multiplier
  passive
  ttl
  hoplimit
  max_hops
  weight
  vrrp
  checker
@track
track_file {
  file
  weight
  init_file
vrrp_track_file {
  file
  weight
  init_file
`

// keywordParts227 are the keywords several blocks share: the connection
// and timing keywords of the checkers (check/check_api.c
// install_checker_common_keywords) and the HTTP_GET/SSL_GET block
// (check/check_http.c install_http_ssl_check_keyword).
var keywordParts227 = map[string]string{
	"connection": "connect_ip\nconnect_port\nbindto\nbind_port\nbind_if\nconnect_timeout\nfwmark\n",
	"checker":    "retry\ndelay_before_retry\nwarmup\ndelay_loop\nalpha\nlog_all_failures\n",
	"http": `*connection
*checker
nb_get_retry
virtualhost
http_protocol
enable_sni
fast_recovery
url {
  path
  digest
  status_code
  virtualhost
  regex
  regex_no_match
  regex_options
  regex_min_offset
  regex_max_offset
  regex_stack
`,
}
