// Entry point until the server lands.
print("celestia-test-server: not built yet")
