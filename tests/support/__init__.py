"""What tests share: paths, the real command, a real server, stores on both backends, registry
homes from fixture folders. Test modules import these, never each other."""
