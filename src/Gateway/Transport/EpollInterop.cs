using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Transport;

/// <summary>
/// The Linux system calls the epoll transport and the batched UDP socket make: epoll, eventfd, poll, accept4, and
/// non-blocking socket I/O.
/// </summary>
/// <remarks>See epoll(7), eventfd(2), poll(2), accept4(2), recv(2), sendmsg(2), recvmmsg(2), sendmmsg(2). Every call sets errno, read with <see cref="Marshal.GetLastPInvokeError"/>.</remarks>
internal static unsafe partial class EpollInterop
{
    private const string LibC = "libc";

    public const uint EpollIn = 0x001;
    public const uint EpollOut = 0x004;
    public const uint EpollErr = 0x008;
    public const uint EpollHup = 0x010;
    public const uint EpollRdHup = 0x2000;
    public const uint EpollEt = 1u << 31;

    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const int EpollCtlMod = 3;

    private const int CloseOnExec = 0x80000; // EPOLL_CLOEXEC and EFD_CLOEXEC share O_CLOEXEC's value
    private const int EventFdNonBlock = 0x800;

    private const int GetStatusFlags = 3; // F_GETFL
    private const int SetStatusFlags = 4; // F_SETFL
    private const int NonBlocking = 0x800; // O_NONBLOCK

    public const int MsgNoSignal = 0x4000; // a send to a closed peer fails with EPIPE instead of raising SIGPIPE
    public const int ShutWr = 1;
    public const int ShutRdWr = 2;

    public const short PollIn = 0x001;

    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int ENOBUFS = 105;
    public const int EPIPE = 32;
    public const int ENETUNREACH = 101;
    public const int ECONNRESET = 104;
    public const int ECONNREFUSED = 111;
    public const int EHOSTUNREACH = 113;

    /// <summary>Largest number of buffers one sendmsg takes here; longer sequences go out in several calls.</summary>
    public const int MaxIoVectors = 64;

    /// <summary>
    /// struct epoll_event is packed on x86-64 (12 bytes, data at offset 4) and naturally aligned elsewhere
    /// (16 bytes, data at offset 8), so events are read from a raw buffer with the layout of this machine.
    /// </summary>
    public static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int s_epollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    public static void WriteEvent(byte* slot, uint events, ulong data)
    {
        *(uint*)slot = events;
        *(ulong*)(slot + s_epollDataOffset) = data; // unaligned on x86-64, which allows it
    }

    public static uint ReadEvents(byte* slot) => *(uint*)slot;

    public static ulong ReadData(byte* slot) => *(ulong*)(slot + s_epollDataOffset);

    /// <summary>The exception a failed socket call becomes: a reset for a vanished peer, else an I/O error naming errno.</summary>
    public static IOException ToException(int errno)
    {
        var message = Marshal.GetPInvokeErrorMessage(errno);
        return errno is ECONNRESET or EPIPE ? new ConnectionResetException(message) : new IOException(message);
    }

    public static int CreateEpoll() => epoll_create1(CloseOnExec);

    public static int CreateEventFd() => eventfd(0, CloseOnExec | EventFdNonBlock);

    /// <summary>Takes the next connection from a listening socket's backlog, non-blocking and close-on-exec; -1 and errno EAGAIN when there is none.</summary>
    public static int Accept(int listeningFd) => accept4(listeningFd, null, null, NonBlocking | CloseOnExec); // SOCK_NONBLOCK, SOCK_CLOEXEC

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVector
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MessageHeader
    {
        public void* Name;
        public int NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }

    [LibraryImport(LibC, SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport(LibC, EntryPoint = "epoll_ctl", SetLastError = true)]
    public static partial int EpollCtl(int epfd, int op, int fd, byte* epollEvent);

    [LibraryImport(LibC, EntryPoint = "epoll_wait", SetLastError = true)]
    public static partial int EpollWait(int epfd, byte* events, int maxEvents, int timeoutMilliseconds);

    [LibraryImport(LibC, SetLastError = true)]
    private static partial int eventfd(uint initialValue, int flags);

    [LibraryImport(LibC, SetLastError = true)]
    private static partial int accept4(int fd, void* address, void* addressLength, int flags);

    [LibraryImport(LibC, EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buffer, nuint count);

    [LibraryImport(LibC, EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nuint count);

    [LibraryImport(LibC, EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport(LibC, EntryPoint = "recv", SetLastError = true)]
    public static partial nint Receive(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(LibC, EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport(LibC, EntryPoint = "sendmsg", SetLastError = true)]
    public static partial nint SendMessage(int fd, MessageHeader* message, int flags);

    /// <summary>struct mmsghdr: one datagram of a recvmmsg or sendmmsg, and the bytes it carried.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MultiMessageHeader
    {
        public MessageHeader Header;
        public uint Length;
    }

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport(LibC, EntryPoint = "recvmmsg", SetLastError = true)]
    public static partial int ReceiveMessages(int fd, MultiMessageHeader* messages, uint count, int flags, void* timeout);

    [LibraryImport(LibC, EntryPoint = "sendmmsg", SetLastError = true)]
    public static partial int SendMessages(int fd, MultiMessageHeader* messages, uint count, int flags);

    [LibraryImport(LibC, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollDescriptor* descriptors, nuint count, int timeoutMilliseconds);

    [LibraryImport(LibC, EntryPoint = "shutdown", SetLastError = true)]
    public static partial int Shutdown(int fd, int how);

    [LibraryImport(LibC, EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(int fd, int command, int argument);

    /// <summary>
    /// Makes <paramref name="fd"/>'s reads and sends return EAGAIN instead of waiting. Unlike <c>Socket.Blocking</c>, it
    /// does not give the socket the runtime's async context (about 150 bytes), which a socket served by a loop never uses.
    /// </summary>
    public static void SetNonBlocking(int fd)
    {
        var flags = Fcntl(fd, GetStatusFlags, 0);
        if (flags < 0 || Fcntl(fd, SetStatusFlags, flags | NonBlocking) < 0) throw ToException(Marshal.GetLastPInvokeError());
    }
}
