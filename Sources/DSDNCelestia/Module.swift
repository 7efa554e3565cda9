// The Celestia DA backend (being written).
