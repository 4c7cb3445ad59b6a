package taonetv1_test

import (
	"sort"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/taonet/taonet/proto/taonet/v1"
)

// TestContract pins the services and RPCs that docs/design.md names, so a change
// to the wire contract is a deliberate one.
func TestContract(t *testing.T) {
	want := map[string][]string{
		"taonet.v1.Peer":        {"Backward", "Describe", "Forward"},
		"taonet.v1.Coordinator": {"Enroll", "GetRound", "Join", "Leave", "ListPeers", "ListRounds", "Query", "Renew", "Watch"},
		"taonet.v1.Ledger":      {"GetBalance", "GetSupply", "ListAccounts", "ListPayouts"},
	}
	for name, methods := range want {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		sd := d.(protoreflect.ServiceDescriptor)
		var got []string
		for i := 0; i < sd.Methods().Len(); i++ {
			got = append(got, string(sd.Methods().Get(i).Name()))
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(methods, ",") {
			t.Errorf("%s methods = %v, want %v", name, got, methods)
		}
	}
	streams := map[string][2]bool{ // client streaming, server streaming
		"taonet.v1.Peer.Forward":          {true, true},
		"taonet.v1.Peer.Backward":         {true, false},
		"taonet.v1.Coordinator.Watch":     {false, true},
		"taonet.v1.Coordinator.Enroll":    {false, false},
		"taonet.v1.Ledger.GetBalance":     {false, false},
		"taonet.v1.Coordinator.Query":     {false, false},
		"taonet.v1.Coordinator.ListPeers": {false, false},
	}
	for name, s := range streams {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		md := d.(protoreflect.MethodDescriptor)
		if md.IsStreamingClient() != s[0] || md.IsStreamingServer() != s[1] {
			t.Errorf("%s streaming = %v/%v, want %v/%v", name, md.IsStreamingClient(), md.IsStreamingServer(), s[0], s[1])
		}
	}
	join, err := protoregistry.GlobalFiles.FindDescriptorByName("taonet.v1.JoinRequest")
	if err != nil {
		t.Fatal(err)
	}
	if join.(protoreflect.MessageDescriptor).Fields().ByName("protocol_version") == nil {
		t.Error("JoinRequest has no protocol_version")
	}
}
