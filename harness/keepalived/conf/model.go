package conf

import (
	"net/netip"
	"time"
)

// File is what the reader extracted from a configuration: the typed
// model, and what the reader saw on the way (its lines, includes,
// definitions, unknown keywords and problems), every item with its Pos.
type File struct {
	// Files are every file read, main file first, in reading order.
	Files []string `json:"files"`
	// ConfigID is the id @ID lines were selected with ("" with none).
	ConfigID string `json:"config_id"`

	Global         Global               `json:"global"`
	Scripts        []Script             `json:"scripts,omitempty"`
	Processes      []TrackedProcess     `json:"processes,omitempty"`
	SyncGroups     []SyncGroup          `json:"sync_groups,omitempty"`
	Instances      []Instance           `json:"instances,omitempty"`
	Groups         []VirtualServerGroup `json:"groups,omitempty"`
	VirtualServers []VirtualServer      `json:"virtual_servers,omitempty"`

	// Includes are every include line, whether keepalived's parent or its
	// children read it (an include behind @ID or $NAME is read by both:
	// see Include.Child).
	Includes []Include `json:"includes,omitempty"`
	// Definitions are every $NAME=value line.
	Definitions []Definition `json:"definitions,omitempty"`
	// Commands are the lines that name a program, a FIFO or a file
	// keepalived writes: what a copy made to run inside a lab replaces in
	// place.
	Commands []CommandLine `json:"commands,omitempty"`
	// Unknown are the keywords a keepalived process does not know: it
	// logs "Unknown keyword" and (keepalived -t) exits 5.
	Unknown []Keyword `json:"unknown,omitempty"`
	// Problems are what the reader saw wrong.
	Problems []Problem `json:"problems,omitempty"`

	// Tree is the block tree each keepalived process builds.
	Tree Tree `json:"-"`
	// Lines are the logical lines keepalived's VRRP and checker processes
	// read; ParentLines those its parent reads (they differ only where
	// keepalived's configuration copy changes them).
	Lines       []Line `json:"-"`
	ParentLines []Line `json:"-"`

	sources map[string][]string
}

// Raw is the text of a physical line as it is in its file ("" for a
// position the reader did not read).
func (f *File) Raw(p Pos) string {
	lines := f.sources[p.File]
	if p.Line < 1 || p.Line > len(lines) {
		return ""
	}
	return lines[p.Line-1]
}

// Tree is the block tree as each of keepalived's processes builds it.
type Tree struct {
	Parent  []*Node
	VRRP    []*Node
	Checker []*Node
}

// Keyword is a keyword a keepalived process does not know.
type Keyword struct {
	Name    string  `json:"name"`
	Pos     Pos     `json:"pos"`
	Process Process `json:"process"`
}

// Include is an include line.
type Include struct {
	Line Line `json:"line"`
	// Pattern is the glob(3) pattern, as written after the keyword.
	Pattern string `json:"pattern"`
	// Files are the files it read, in order.
	Files []string `json:"files,omitempty"`
	// Child says keepalived's VRRP and checker processes read this
	// include themselves (an include behind @ID or $NAME): its files are
	// read twice by them.
	Child bool `json:"child,omitempty"`
}

// Definition is a $NAME=value line (the value of a multi-line definition
// has its lines separated by "\n").
type Definition struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Pos   Pos    `json:"pos"`
	Child bool   `json:"child,omitempty"`
}

// CommandLine is a line whose keyword names a program keepalived runs, a
// FIFO it writes or a file it creates.
type CommandLine struct {
	Keyword string `json:"keyword"`
	Line    Line   `json:"line"`
	// Raw is the physical line, as in its file.
	Raw string `json:"raw"`
	// Block names what the keyword belongs to, e.g. "vrrp_instance VI_1".
	Block string `json:"block,omitempty"`
}

// Command is a program keepalived runs: its words after keepalived's
// shell-like parsing, and the user it runs as when the line names one.
type Command struct {
	Args  []string `json:"args"`
	User  string   `json:"user,omitempty"`
	Group string   `json:"group,omitempty"`
	Pos   Pos      `json:"pos"`
}

// Global is what global_defs (and the top-level global keywords) set.
type Global struct {
	RouterID       Setting[string] `json:"router_id,omitzero"`
	SyncDaemon     *SyncDaemon     `json:"sync_daemon,omitempty"`
	ScriptSecurity Setting[bool]   `json:"script_security,omitzero"`
	ScriptUser     Setting[string] `json:"script_user,omitzero"`
	ScriptGroup    Setting[string] `json:"script_group,omitzero"`
	NotifyFifo     Fifo            `json:"notify_fifo"`
	VRRPNotifyFifo Fifo            `json:"vrrp_notify_fifo"`
	LVSNotifyFifo  Fifo            `json:"lvs_notify_fifo"`
	StartupScript  *Command        `json:"startup_script,omitempty"`
	ShutdownScript *Command        `json:"shutdown_script,omitempty"`

	VRRPStrict           Setting[bool]          `json:"vrrp_strict,omitzero"`
	VRRPVersion          Setting[int]           `json:"vrrp_version,omitzero"`
	GARPMasterDelay      Setting[time.Duration] `json:"garp_master_delay,omitzero"`
	GARPMasterRepeat     Setting[int]           `json:"garp_master_repeat,omitzero"`
	GARPMasterRefresh    Setting[time.Duration] `json:"garp_master_refresh,omitzero"`
	GARPRefreshRepeat    Setting[int]           `json:"garp_refresh_repeat,omitzero"`
	GARPLowerPrioDelay   Setting[time.Duration] `json:"garp_lower_prio_delay,omitzero"`
	GARPLowerPrioRepeat  Setting[int]           `json:"garp_lower_prio_repeat,omitzero"`
	DownTimerAdverts     Setting[int]           `json:"down_timer_adverts,omitzero"`
	LowerPrioNoAdvert    Setting[bool]          `json:"lower_prio_no_advert,omitzero"`
	HigherPrioSendAdvert Setting[bool]          `json:"higher_prio_send_advert,omitzero"`
	SkipCheckAdvAddr     Setting[bool]          `json:"skip_check_adv_addr,omitzero"`
	CheckUnicastSrc      Setting[bool]          `json:"check_unicast_src,omitzero"`
	StartupDelay         Setting[time.Duration] `json:"startup_delay,omitzero"`
	McastGroup4          Setting[netip.Addr]    `json:"mcast_group4,omitzero"`
	McastGroup6          Setting[netip.Addr]    `json:"mcast_group6,omitzero"`

	LVSFlush       Setting[bool] `json:"lvs_flush,omitzero"`
	LVSFlushOnStop Setting[bool] `json:"lvs_flush_on_stop,omitzero"`

	// What ties keepalived to its machine, which a lab replaces.
	NetNamespace    Setting[string] `json:"net_namespace,omitzero"`
	Instance        Setting[string] `json:"instance,omitzero"`
	DBus            Setting[bool]   `json:"dbus,omitzero"`
	SNMPVRRP        Setting[bool]   `json:"snmp_vrrp,omitzero"`
	SNMPChecker     Setting[bool]   `json:"snmp_checker,omitzero"`
	SNMPRFCv2       Setting[bool]   `json:"snmp_rfcv2,omitzero"`
	SNMPRFCv3       Setting[bool]   `json:"snmp_rfcv3,omitzero"`
	UsePidDir       Setting[bool]   `json:"use_pid_dir,omitzero"`
	ConfigSaveDir   Setting[string] `json:"config_save_dir,omitzero"`
	DefaultIface    Setting[string] `json:"default_interface,omitzero"`
	DynamicIfaces   Setting[bool]   `json:"dynamic_interfaces,omitzero"`
	MaxAutoPriority Setting[int]    `json:"max_auto_priority,omitzero"`
}

// Fifo is a notify FIFO and the script keepalived starts to read it.
type Fifo struct {
	Path   Setting[string] `json:"path,omitzero"`
	Script *Command        `json:"script,omitempty"`
}

// SyncDaemon is global_defs' lvs_sync_daemon (or a vrrp_instance's
// deprecated lvs_sync_daemon_interface).
type SyncDaemon struct {
	Pos       Pos                 `json:"pos"`
	Interface string              `json:"interface"`
	Instance  string              `json:"instance,omitempty"`
	ID        Setting[int]        `json:"id,omitzero"`
	MaxLen    Setting[int]        `json:"maxlen,omitzero"`
	Port      Setting[int]        `json:"port,omitzero"`
	TTL       Setting[int]        `json:"ttl,omitzero"`
	Group     Setting[netip.Addr] `json:"group,omitzero"`
}

// Script is a vrrp_script.
type Script struct {
	Name     string                 `json:"name"`
	Pos      Pos                    `json:"pos"`
	Command  *Command               `json:"command,omitempty"`
	Interval Setting[time.Duration] `json:"interval,omitzero"`
	Timeout  Setting[time.Duration] `json:"timeout,omitzero"`
	Weight   Setting[int]           `json:"weight,omitzero"`
	Reverse  bool                   `json:"reverse,omitempty"`
	Rise     Setting[int]           `json:"rise,omitzero"`
	Fall     Setting[int]           `json:"fall,omitzero"`
	User     Setting[string]        `json:"user,omitzero"`
	Group    Setting[string]        `json:"group,omitzero"`
	InitFail Setting[bool]          `json:"init_fail,omitzero"`
}

// TrackedProcess is a vrrp_track_process.
type TrackedProcess struct {
	Name       string                 `json:"name"`
	Pos        Pos                    `json:"pos"`
	Process    Setting[string]        `json:"process,omitzero"`
	Params     []string               `json:"params,omitempty"`
	ParamMatch Setting[string]        `json:"param_match,omitzero"`
	Weight     Setting[int]           `json:"weight,omitzero"`
	Reverse    bool                   `json:"reverse,omitempty"`
	Quorum     Setting[int]           `json:"quorum,omitzero"`
	QuorumMax  Setting[int]           `json:"quorum_max,omitzero"`
	Delay      Setting[time.Duration] `json:"delay,omitzero"`
	FullCmd    Setting[bool]          `json:"full_command,omitzero"`
}

// Track is one entry of a track_interface, track_script or track_process
// block.
type Track struct {
	Name    string       `json:"name"`
	Weight  Setting[int] `json:"weight,omitzero"`
	Reverse bool         `json:"reverse,omitempty"`
	Pos     Pos          `json:"pos"`
}

// Notify are the notify scripts of an instance or a sync group.
type Notify struct {
	Master  *Command `json:"master,omitempty"`
	Backup  *Command `json:"backup,omitempty"`
	Fault   *Command `json:"fault,omitempty"`
	Stop    *Command `json:"stop,omitempty"`
	Deleted *Command `json:"deleted,omitempty"`
	Any     *Command `json:"any,omitempty"`
	// MasterRxLowerPri is notify_master_rx_lower_pri.
	MasterRxLowerPri *Command `json:"master_rx_lower_pri,omitempty"`
}

// SyncGroup is a vrrp_sync_group.
type SyncGroup struct {
	Name            string        `json:"name"`
	Pos             Pos           `json:"pos"`
	Members         []string      `json:"members"`
	MembersPos      Pos           `json:"members_pos"`
	TrackInterfaces []Track       `json:"track_interfaces,omitempty"`
	TrackScripts    []Track       `json:"track_scripts,omitempty"`
	TrackProcesses  []Track       `json:"track_processes,omitempty"`
	Notify          Notify        `json:"notify"`
	GlobalTracking  Setting[bool] `json:"global_tracking,omitzero"`
	SMTPAlert       Setting[bool] `json:"smtp_alert,omitzero"`
	NotifyPrio      Setting[bool] `json:"notify_priority_changes,omitzero"`
}

// VIP is an address of a virtual_ipaddress block.
type VIP struct {
	Prefix netip.Prefix `json:"prefix"`
	Dev    string       `json:"dev,omitempty"`
	Scope  string       `json:"scope,omitempty"`
	Label  string       `json:"label,omitempty"`
	// Options are the entry's other words, as written.
	Options []string `json:"options,omitempty"`
	Pos     Pos      `json:"pos"`
}

// Route is an entry of virtual_routes, kept as written (keepalived hands
// it to the kernel much as "ip route" would).
type Route struct {
	Words []string `json:"words"`
	Pos   Pos      `json:"pos"`
}

// Peer is a unicast_peer entry.
type Peer struct {
	Addr   netip.Addr `json:"addr"`
	MinTTL int        `json:"min_ttl"`
	MaxTTL int        `json:"max_ttl"`
	Pos    Pos        `json:"pos"`
}

// Auth is an instance's authentication block.
type Auth struct {
	Type Setting[string] `json:"type,omitzero"`
	Pass Setting[string] `json:"pass,omitzero"`
}

// Instance is a vrrp_instance.
type Instance struct {
	Name  string          `json:"name"`
	Pos   Pos             `json:"pos"`
	State Setting[string] `json:"state,omitzero"`

	Interface        Setting[string] `json:"interface,omitzero"`
	DontTrackPrimary Setting[bool]   `json:"dont_track_primary,omitzero"`
	TrackInterfaces  []Track         `json:"track_interfaces,omitempty"`
	TrackScripts     []Track         `json:"track_scripts,omitempty"`
	TrackProcesses   []Track         `json:"track_processes,omitempty"`

	VRID         Setting[int]           `json:"vrid,omitzero"`
	Priority     Setting[int]           `json:"priority,omitzero"`
	AdvertInt    Setting[time.Duration] `json:"advert_int,omitzero"`
	Version      Setting[int]           `json:"version,omitzero"`
	NoPreempt    Setting[bool]          `json:"nopreempt,omitzero"`
	PreemptDelay Setting[time.Duration] `json:"preempt_delay,omitzero"`
	Strict       Setting[bool]          `json:"strict_mode,omitzero"`
	Accept       Setting[bool]          `json:"accept,omitzero"`

	VIPs          []VIP   `json:"vips,omitempty"`
	ExcludedVIPs  []VIP   `json:"excluded_vips,omitempty"`
	VirtualRoutes []Route `json:"virtual_routes,omitempty"`

	UnicastSrcIP         Setting[netip.Addr]    `json:"unicast_src_ip,omitzero"`
	McastSrcIP           Setting[netip.Addr]    `json:"mcast_src_ip,omitzero"`
	UnicastPeers         []Peer                 `json:"unicast_peers,omitempty"`
	UnicastTTL           Setting[int]           `json:"unicast_ttl,omitzero"`
	UseVMAC              Setting[bool]          `json:"use_vmac,omitzero"`
	VMACInterface        Setting[string]        `json:"vmac_interface,omitzero"`
	VMACXmitBase         Setting[bool]          `json:"vmac_xmit_base,omitzero"`
	Auth                 Auth                   `json:"auth"`
	Notify               Notify                 `json:"notify"`
	SMTPAlert            Setting[bool]          `json:"smtp_alert,omitzero"`
	GARPMasterDelay      Setting[time.Duration] `json:"garp_master_delay,omitzero"`
	GARPMasterRepeat     Setting[int]           `json:"garp_master_repeat,omitzero"`
	DownTimerAdverts     Setting[int]           `json:"down_timer_adverts,omitzero"`
	LowerPrioNoAdvert    Setting[bool]          `json:"lower_prio_no_advert,omitzero"`
	HigherPrioSendAdvert Setting[bool]          `json:"higher_prio_send_advert,omitzero"`
}

// VirtualServerGroup is a virtual_server_group.
type VirtualServerGroup struct {
	Name    string       `json:"name"`
	Pos     Pos          `json:"pos"`
	Entries []GroupEntry `json:"entries,omitempty"`
}

// GroupEntry is an entry of a virtual_server_group: an address range with
// a port, or a firewall mark.
type GroupEntry struct {
	// First and Last bound an address range (equal for one address).
	First netip.Addr `json:"first,omitzero"`
	Last  netip.Addr `json:"last,omitzero"`
	Port  int        `json:"port,omitempty"`
	// FWMark is set for a "fwmark N" entry; Family is its optional
	// "inet"/"inet6".
	FWMark *int   `json:"fwmark,omitempty"`
	Family string `json:"family,omitempty"`
	Pos    Pos    `json:"pos"`
}

// VirtualServer is a virtual_server: an address and port, a firewall
// mark, or a group.
type VirtualServer struct {
	Pos    Pos             `json:"pos"`
	Addr   netip.AddrPort  `json:"addr,omitzero"`
	FWMark *int            `json:"fwmark,omitempty"`
	Group  string          `json:"group,omitempty"`
	Family Setting[string] `json:"family,omitzero"`

	Protocol   Setting[string] `json:"protocol,omitzero"`
	Scheduler  Setting[string] `json:"scheduler,omitzero"`
	SchedFlags []string        `json:"sched_flags,omitempty"`
	Method     Setting[string] `json:"method,omitzero"`
	Tunnel     Tunnel          `json:"tunnel"`

	Persistence Setting[time.Duration] `json:"persistence,omitzero"`
	Granularity Setting[string]        `json:"granularity,omitzero"`
	Quorum      Setting[int]           `json:"quorum,omitzero"`
	Hysteresis  Setting[int]           `json:"hysteresis,omitzero"`
	QuorumUp    *Command               `json:"quorum_up,omitempty"`
	QuorumDown  *Command               `json:"quorum_down,omitempty"`
	SorryServer *SorryServer           `json:"sorry_server,omitempty"`
	HASuspend   Setting[bool]          `json:"ha_suspend,omitzero"`
	Alpha       Setting[bool]          `json:"alpha,omitzero"`
	Omega       Setting[bool]          `json:"omega,omitzero"`
	OPS         Setting[bool]          `json:"ops,omitzero"`
	Inhibit     Setting[bool]          `json:"inhibit_on_failure,omitzero"`
	Weight      Setting[int]           `json:"weight,omitzero"`
	VirtualHost Setting[string]        `json:"virtualhost,omitzero"`

	// Timing is the checker timing its real servers inherit.
	Timing

	Reals []RealServer `json:"reals,omitempty"`
}

// Tunnel is the tunnel of a TUN forwarding method.
type Tunnel struct {
	Type string `json:"type,omitempty"`
	Port int    `json:"port,omitempty"`
	Csum string `json:"csum,omitempty"`
	Pos  Pos    `json:"pos"`
}

// SorryServer is a virtual server's sorry_server.
type SorryServer struct {
	Addr    netip.AddrPort  `json:"addr"`
	Pos     Pos             `json:"pos"`
	Method  Setting[string] `json:"method,omitzero"`
	Inhibit Setting[bool]   `json:"inhibit,omitzero"`
}

// RealServer is a real_server of a virtual server.
type RealServer struct {
	Pos     Pos             `json:"pos"`
	Addr    netip.AddrPort  `json:"addr"`
	Weight  Setting[int]    `json:"weight,omitzero"`
	Method  Setting[string] `json:"method,omitzero"`
	Tunnel  Tunnel          `json:"tunnel"`
	Inhibit Setting[bool]   `json:"inhibit_on_failure,omitzero"`
	Alpha   Setting[bool]   `json:"alpha,omitzero"`

	// Timing is the checker timing its checkers inherit.
	Timing
	UThreshold  Setting[int]    `json:"uthreshold,omitzero"`
	LThreshold  Setting[int]    `json:"lthreshold,omitzero"`
	NotifyUp    *Command        `json:"notify_up,omitempty"`
	NotifyDown  *Command        `json:"notify_down,omitempty"`
	VirtualHost Setting[string] `json:"virtualhost,omitzero"`

	Checkers []Checker `json:"checkers,omitempty"`
}

// Checker is a health checker of a real server.
type Checker struct {
	Kind string `json:"kind"` // HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, …
	Pos  Pos    `json:"pos"`

	Timing
	Alpha       Setting[bool]       `json:"alpha,omitzero"`
	ConnectIP   Setting[netip.Addr] `json:"connect_ip,omitzero"`
	ConnectPort Setting[int]        `json:"connect_port,omitzero"`
	BindTo      Setting[netip.Addr] `json:"bindto,omitzero"`
	BindPort    Setting[int]        `json:"bind_port,omitzero"`
	BindIf      Setting[string]     `json:"bind_if,omitzero"`
	FWMark      Setting[int]        `json:"fwmark,omitzero"`

	// HTTP_GET and SSL_GET.
	URLs         []URL           `json:"urls,omitempty"`
	VirtualHost  Setting[string] `json:"virtualhost,omitzero"`
	HTTPProtocol Setting[string] `json:"http_protocol,omitzero"`
	FastRecovery Setting[bool]   `json:"fast_recovery,omitzero"`
	EnableSNI    Setting[bool]   `json:"enable_sni,omitzero"`

	// MISC_CHECK.
	Misc        *Command               `json:"misc,omitempty"`
	MiscTimeout Setting[time.Duration] `json:"misc_timeout,omitzero"`
	MiscDynamic Setting[bool]          `json:"misc_dynamic,omitzero"`

	// SMTP_CHECK, DNS_CHECK, UDP_CHECK, FILE_CHECK, BFD_CHECK.
	HeloName   Setting[string] `json:"helo_name,omitzero"`
	DNSType    Setting[string] `json:"dns_type,omitzero"`
	DNSName    Setting[string] `json:"dns_name,omitzero"`
	Payload    Setting[string] `json:"payload,omitzero"`
	RequireRep Setting[bool]   `json:"require_reply,omitzero"`
	TrackFile  Setting[string] `json:"track_file,omitzero"`
	BFDName    Setting[string] `json:"bfd_name,omitzero"`

	// Dropped says keepalived drops this checker once read (an HTTP_GET
	// without a url, a MISC_CHECK without a misc_path …): Problems says
	// why.
	Dropped bool `json:"dropped,omitempty"`
}

// URL is a url block of an HTTP_GET or SSL_GET checker.
type URL struct {
	Path        Setting[string] `json:"path,omitzero"`
	StatusCodes []StatusRange   `json:"status_codes,omitempty"`
	Digest      Setting[string] `json:"digest,omitzero"`
	VirtualHost Setting[string] `json:"virtualhost,omitzero"`
	Regex       Setting[string] `json:"regex,omitzero"`
	Pos         Pos             `json:"pos"`
}

// StatusRange is a range of HTTP status codes (Min == Max for one).
type StatusRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// Timing is the timing of a health checker: a virtual server's passes to
// its real servers, a real server's to its checkers, for what they leave
// unset.
type Timing struct {
	DelayLoop        Setting[time.Duration] `json:"delay_loop,omitzero"`
	ConnectTimeout   Setting[time.Duration] `json:"connect_timeout,omitzero"`
	Retry            Setting[int]           `json:"retry,omitzero"`
	DelayBeforeRetry Setting[time.Duration] `json:"delay_before_retry,omitzero"`
	Warmup           Setting[time.Duration] `json:"warmup,omitzero"`
}
