// A failure of the audio device path (PortAudio, the device, the sound server behind it), told
// apart from other audio failures (a file, a disk) so the CLI can exit with its own code.
export class DeviceError extends Error {
  override readonly name = 'DeviceError';
}
