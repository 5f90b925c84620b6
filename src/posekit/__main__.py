from posekit.cli.app import main

main()
