package main

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	blocks, _ := testChain(t, 1, 3, 1)
	b := blocks[0]
	frames := []struct {
		typ     MsgType
		payload []byte
	}{
		{MsgGetHeader, AppendHeight(nil, 42)},
		{MsgBlock, MarshalBlock(b)},
		{MsgAnnounce, AppendAnnounce(nil, 42, b.Header.Hash())},
		{MsgError, nil},
		{MsgError, bytes.Repeat([]byte("x"), 100<<10)}, // past the trusted allocation size
	}
	var stream []byte
	for _, f := range frames {
		stream = AppendFrame(stream, f.typ, f.payload)
	}
	r := bytes.NewReader(stream)
	for _, f := range frames {
		typ, payload, err := ReadFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		if typ != f.typ || !bytes.Equal(payload, f.payload) {
			t.Fatalf("read %s %x, want %s %x", typ, payload, f.typ, f.payload)
		}
	}
	if _, _, err := ReadFrame(r); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	got, err := UnmarshalBlock(MarshalBlock(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Header != b.Header || len(got.Txs) != len(b.Txs) || got.Txs[2] != b.Txs[2] {
		t.Error("block did not survive encoding")
	}
	h, hash, err := DecodeAnnounce(AppendAnnounce(nil, 42, b.Header.Hash()))
	if err != nil || h != 42 || hash != b.Header.Hash() {
		t.Errorf("DecodeAnnounce = %d, %x, %v", h, hash, err)
	}
}

func TestReadFrameRejects(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"zero length", []byte{0, 0, 0, 0, 1}, ErrProtocol},
		{"huge length", []byte{0xff, 0, 0, 0, 1}, ErrProtocol},
		{"unknown type", []byte{0, 0, 0, 1, 99}, ErrProtocol},
		{"type zero", []byte{0, 0, 0, 1, 0}, ErrProtocol},
		{"short header", []byte{0, 0}, io.ErrUnexpectedEOF},
		{"short payload", []byte{0, 0, 0, 9, byte(MsgGetBlock), 1, 2}, io.ErrUnexpectedEOF},
		{"short large payload", []byte{0, 1, 0, 0, byte(MsgBlock), 1, 2}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ReadFrame(bytes.NewReader(tt.in)); !errors.Is(err, tt.want) {
				t.Errorf("ReadFrame = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodersRejectMalformed(t *testing.T) {
	blocks, _ := testChain(t, 1, 2, 1)
	enc := MarshalBlock(blocks[0])
	if _, err := UnmarshalBlock(enc[:len(enc)-1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("truncated block: %v", err)
	}
	huge := append([]byte(nil), enc[:headerSize]...)
	huge = append(huge, 0xff, 0xff, 0xff, 0xff)
	if _, err := UnmarshalBlock(huge); !errors.Is(err, ErrMalformed) {
		t.Errorf("huge tx count: %v", err)
	}
	if _, err := UnmarshalHeader(enc[:headerSize+1]); !errors.Is(err, ErrMalformed) {
		t.Errorf("long header: %v", err)
	}
	if _, err := DecodeHeight([]byte{1}); !errors.Is(err, ErrProtocol) {
		t.Errorf("short height: %v", err)
	}
	if _, _, err := DecodeAnnounce(make([]byte, 8)); !errors.Is(err, ErrProtocol) {
		t.Errorf("short announce: %v", err)
	}
}

// FuzzReadMessage feeds arbitrary bytes, as a peer connection could deliver them, to the frame
// reader and the payload decoders. Every error must be a protocol, format or truncation error,
// and whatever decodes must encode back to the same bytes.
func FuzzReadMessage(f *testing.F) {
	blocks, _ := testChain(f, 1, 2, 1)
	b := blocks[0]
	f.Add(AppendFrame(nil, MsgGetHeader, AppendHeight(nil, 7)))
	f.Add(AppendFrame(AppendFrame(nil, MsgAnnounce, AppendAnnounce(nil, 7, b.Header.Hash())), MsgGetBlock, AppendHeight(nil, 8)))
	f.Add(AppendFrame(nil, MsgHeader, MarshalHeader(&b.Header)))
	f.Add(AppendFrame(nil, MsgBlock, MarshalBlock(b)))
	f.Add(AppendFrame(nil, MsgError, []byte("no such block")))
	f.Add([]byte{0, 0, 0, 5, byte(MsgBlock), 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			before := len(data) - r.Len()
			typ, payload, err := ReadFrame(r)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrProtocol) {
					t.Fatalf("ReadFrame: unexpected error kind: %v", err)
				}
				return
			}
			if consumed := data[before : len(data)-r.Len()]; !bytes.Equal(AppendFrame(nil, typ, payload), consumed) {
				t.Fatalf("frame %s does not re-encode to the bytes it was read from", typ)
			}
			reencoded, err := decodeAndEncode(typ, payload)
			if err != nil {
				if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrMalformed) {
					t.Fatalf("decoding %s: unexpected error kind: %v", typ, err)
				}
				continue
			}
			if !bytes.Equal(reencoded, payload) {
				t.Fatalf("%s payload does not re-encode to itself", typ)
			}
		}
	})
}

// decodeAndEncode decodes a payload with the decoder its message type calls for and encodes
// the result again.
func decodeAndEncode(typ MsgType, p []byte) ([]byte, error) {
	switch typ {
	case MsgGetHeader, MsgGetBlock:
		h, err := DecodeHeight(p)
		return AppendHeight(nil, h), err
	case MsgHeader:
		h, err := UnmarshalHeader(p)
		return MarshalHeader(&h), err
	case MsgBlock:
		b, err := UnmarshalBlock(p)
		if err != nil {
			return nil, err
		}
		return MarshalBlock(b), nil
	case MsgAnnounce:
		h, hash, err := DecodeAnnounce(p)
		return AppendAnnounce(nil, h, hash), err
	}
	return p, nil
}
