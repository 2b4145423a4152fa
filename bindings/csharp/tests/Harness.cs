// A tiny test runner (no NUnit/xUnit on a bare Mono): named tests, assertions, a watchdog, and a
// final "N passed, N failed" line.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;

namespace NodeSpace.Tests
{
    internal static class T
    {
        public static int Passed, Failed, Skipped;
        public static string Filter;
        private static string s_current = "";
        private static long s_startedTicks;
        public static int TimeoutSeconds = 180;

        /// <summary>A watchdog: a hung test (a deadlock would hang CI) fails the run.</summary>
        public static void StartWatchdog()
        {
            var thread = new Thread(() =>
            {
                while (true)
                {
                    Thread.Sleep(1000);
                    long started = Interlocked.Read(ref s_startedTicks);
                    if (started != 0 && Stopwatch.GetTimestamp() - started > TimeoutSeconds * Stopwatch.Frequency)
                    {
                        Console.WriteLine("FAIL " + Volatile.Read(ref s_current) + ": still running after " + TimeoutSeconds + " s (hung?)");
                        Console.WriteLine(Passed + " passed, " + (Failed + 1) + " failed");
                        Console.Out.Flush();
                        Environment.Exit(1);
                    }
                }
            });
            thread.IsBackground = true;
            thread.Start();
        }

        public static void Test(string name, Action body)
        {
            if (Filter != null && name.IndexOf(Filter, StringComparison.OrdinalIgnoreCase) < 0) return;
            Volatile.Write(ref s_current, name);
            Interlocked.Exchange(ref s_startedTicks, Stopwatch.GetTimestamp());
            var watch = Stopwatch.StartNew();
            try
            {
                body();
                Passed++;
                Console.WriteLine("ok   " + name + " (" + watch.ElapsedMilliseconds + " ms)");
            }
            catch (Exception e)
            {
                Failed++;
                Console.WriteLine("FAIL " + name + ": " + e);
            }
            finally
            {
                Interlocked.Exchange(ref s_startedTicks, 0);
            }
            Console.Out.Flush();
        }

        public static void Skip(string name, string why)
        {
            if (Filter != null && name.IndexOf(Filter, StringComparison.OrdinalIgnoreCase) < 0) return;
            Skipped++;
            Console.WriteLine("SKIPPED " + name + ": " + why);
        }

        public static void True(bool condition, string message)
        {
            if (!condition) throw new Exception("assertion failed: " + message);
        }

        public static void Equal<TValue>(TValue expected, TValue actual, string message)
        {
            if (!EqualityComparer<TValue>.Default.Equals(expected, actual))
                throw new Exception("assertion failed: " + message + ": expected <" + expected + ">, got <" + actual + ">");
        }

        public static TException Throws<TException>(Action body, string message) where TException : Exception
        {
            try
            {
                body();
            }
            catch (TException e)
            {
                return e;
            }
            catch (AggregateException e) when (e.InnerExceptions.Count == 1 && e.InnerException is TException)
            {
                return (TException)e.InnerException;
            }
            catch (Exception e)
            {
                throw new Exception("assertion failed: " + message + ": expected " + typeof(TException).Name + ", got " + e.GetType().Name + ": " + e.Message, e);
            }
            throw new Exception("assertion failed: " + message + ": expected " + typeof(TException).Name + ", nothing was thrown");
        }

        public static float MaxAbsDiff(float[] a, float[] b)
        {
            if (a.Length != b.Length) throw new Exception("lengths differ: " + a.Length + " vs " + b.Length);
            float max = 0;
            for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
            return max;
        }

        public static double Cosine(float[] a, float[] b)
        {
            double dot = 0, na = 0, nb = 0;
            for (int i = 0; i < a.Length; i++) { dot += a[i] * (double)b[i]; na += a[i] * (double)a[i]; nb += b[i] * (double)b[i]; }
            return dot / Math.Sqrt(na * nb);
        }

        public static double Norm(float[] a)
        {
            double s = 0;
            foreach (float x in a) s += x * (double)x;
            return Math.Sqrt(s);
        }

        public static bool BitwiseEqual(float[][] a, float[][] b)
        {
            if (a.Length != b.Length) return false;
            for (int i = 0; i < a.Length; i++)
            {
                if (a[i].Length != b[i].Length) return false;
                for (int j = 0; j < a[i].Length; j++)
                    if (BitConverter.ToInt32(BitConverter.GetBytes(a[i][j]), 0) != BitConverter.ToInt32(BitConverter.GetBytes(b[i][j]), 0)) return false;
            }
            return true;
        }

        /// <summary>Runs a program; returns its stdout, throws with stderr when it fails.</summary>
        public static string Run(string file, string arguments)
        {
            var info = new ProcessStartInfo(file, arguments)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                StandardOutputEncoding = Encoding.UTF8,
            };
            using (Process p = Process.Start(info))
            {
                var stderr = new StringBuilder();
                p.ErrorDataReceived += (s, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
                p.BeginErrorReadLine();
                string stdout = p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0) throw new Exception(file + " " + arguments + " exited with " + p.ExitCode + ": " + stderr);
                return stdout;
            }
        }

        /// <summary>Quotes one argument for ProcessStartInfo.Arguments (no quotes or backslashes inside).</summary>
        public static string Quote(string s)
        {
            if (s.IndexOf('"') >= 0 || s.IndexOf('\\') >= 0) throw new ArgumentException("test argument must not contain quotes or backslashes: " + s);
            return "\"" + s + "\"";
        }
    }
}
