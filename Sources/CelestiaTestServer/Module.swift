// The Celestia-compatible test server (being written).
